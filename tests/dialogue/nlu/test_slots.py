"""Plain yes and no."""

from __future__ import annotations

import pytest

from dialogue.nlu.slots import NO, YES


@pytest.mark.parametrize(
    "text, yes, no",
    [("yes", True, False), ("Yes, do it.", True, False), ("ok go ahead", True, False),
     ("是的，确认取消", True, False), ("好的", True, False), ("no", False, True),
     ("No, wait, don't cancel it.", False, True), ("不，先不要取消", False, True), ("算了", False, True),
     ("I don't know", False, False), ("maybe later", False, False), ("why?", False, False)],
)  # fmt: skip
def test_plain_yes_and_no(text, yes, no):
    assert bool(YES.search(text)) is yes and bool(NO.search(text)) is no
