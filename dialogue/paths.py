"""Where the dialogue stage finds its files: data shipped in the package, and the shared data set.

Environment:
- `CCA_SHARED_DATA`: the shared data folder (dialogues/, intents/, kb/, retail/, ...); default
  `../shared/data` beside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DATA = Path(__file__).resolve().parent / "data"  # intent head, hand-written turns, suites
CHECKOUT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """The shared data folder: `CCA_SHARED_DATA`, else `../shared/data` beside the checkout."""
    env = os.environ.get("CCA_SHARED_DATA")
    return Path(env) if env else CHECKOUT.parent / "shared" / "data"
