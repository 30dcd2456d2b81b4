"""Plain yes and no, in English and Chinese: what answers a confirmation question in any
business. A pack reads its own slots (the sample shop's: domains/retail/slots.py; a declared
pack's: its [slots] tables, dialogue.policy.pack_slots)."""

from __future__ import annotations

import re

YES = re.compile(
    r"^\s*(?:yes|yeah|yep|sure|ok(?:ay)?|confirm(?:ed)?|go ahead|please do|do it|correct|right|是|是的|对|对的|好|好的|可以|确认|确定|没问题|行)\b",
    re.I,
)
NO = re.compile(
    r"^\s*(?:no|nope|don'?t|do not|cancel that|stop|wait|不|不是|不要|不用|算了|先不|别)", re.I
)
