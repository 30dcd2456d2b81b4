"""The sample shop's conversations for the dialogue model's training data (`cca convdata build`,
source `retail`): generated from the tau-bench retail files, and for `--guided` the open turns and
the FAQ the replayed conversations answer from. Declared in domain.toml as [code] dialogues."""

from __future__ import annotations

from pathlib import Path

from dialogue.lm.convdata import ConvDataError, Conversation
from domains.retail.data import RetailDataError, parse_retail
from domains.retail.dialogues import generate_retail

FOLDER = "retail"  # under the shared data folder
INPUTS = ("retail/users.json", "retail/products.json", "retail/orders.json")  # read from there
LICENCE = "generated from MIT data; sierra-research/tau-bench retail domain"


def generate(data_dir: Path, n: int, seed: int) -> list[Conversation]:
    """`n` conversations generated on the files of `data_dir`/retail."""
    try:
        data = parse_retail(data_dir / FOLDER)
    except RetailDataError as e:
        raise ConvDataError(str(e)) from None
    return generate_retail(data, n, seed)


def guided_inputs(n_open: int, seed: int):
    """(open scripts, the FAQ knowledge base) for `cca convdata build --guided`."""
    from domains.retail.knowledge import faq_knowledge
    from domains.retail.open_dialogues import open_scripts

    return open_scripts(n_open, seed), faq_knowledge()
