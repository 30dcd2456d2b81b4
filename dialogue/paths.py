"""Where the dialogue stage finds its files: data shipped in the package, and the shared data set.

Environment:
- `CCA_SHARED_DATA`: the shared data folder (dialogues/, intents/, kb/, ...); default
  `../shared/data` beside the checkout.
- `CCA_DOMAIN`: the domain pack the commands serve when none is named with `--domain`; default
  the sample pack of the checkout (`DEFAULT_DOMAIN`).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DATA = Path(__file__).resolve().parent / "data"  # intent head, hand-written turns, suites
CHECKOUT = Path(__file__).resolve().parents[1]
DEFAULT_DOMAIN = CHECKOUT / "domains/retail"  # the sample pack: a folder name, not code


def default_domain() -> Path:
    """The pack a command serves when given none: `CCA_DOMAIN`, else `DEFAULT_DOMAIN`."""
    env = os.environ.get("CCA_DOMAIN")
    return Path(env) if env else DEFAULT_DOMAIN


def shared_data() -> Path:
    """The shared data folder: `CCA_SHARED_DATA`, else `../shared/data` beside the checkout."""
    env = os.environ.get("CCA_SHARED_DATA")
    return Path(env) if env else CHECKOUT.parent / "shared" / "data"
