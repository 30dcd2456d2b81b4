"""The sample shop's agent services: its back office (SQLite or PostgreSQL, loaded from a folder
of tau-bench files when asked), its catalogue for the NLU, and the knowledge base if one was built.
Declared in domain.toml as [code] services, so `cca chat`, the evaluations and the apps build it
through the pack (`DomainPack.code("services")`).

Environment:
- `CCA_RETAIL_DB`: the back office's URL when none is given; default sqlite:///retail.db.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dialogue.agent import AgentServices
from dialogue.chat import perception_and_model
from dialogue.knowledge.store import store_exists
from dialogue.paths import shared_data

logger = logging.getLogger(__name__)

DEFAULT_DB = os.environ.get("CCA_RETAIL_DB", "sqlite:///retail.db")  # the back office's
PACK = Path(__file__).parent  # the shop's pack: its replies and promises are the agent's


def default_data():
    """The tau-bench retail files the shop's suites were written on (under the shared data)."""
    return shared_data() / "retail"


def build_services(
    db: str | None = None, kb: str | None = None, data: str | None = None,
    asr_model: str = "base", lm: str | None = None, adapter: str | None = None,
) -> AgentServices:  # fmt: skip
    """The shop's services on the back office at `db` (default DEFAULT_DB), first loaded from the
    data folder `data` when given; `kb` (`cca chat`: DEFAULT_KB) is used when it exists."""
    from sqlalchemy import select

    from dialogue.domain.pack import DomainPack
    from dialogue.nlu.understand import NLU
    from dialogue.policy.reply import Replies
    from domains.retail.backoffice import BackOffice
    from domains.retail.policy import DialoguePolicy
    from domains.retail.schema import Product

    db = db or DEFAULT_DB
    office = BackOffice.open(db)
    if data:
        office.load_retail(data, progress=False)
    if office.counts().get("retail_orders", 0) == 0:
        logger.warning(
            "the back office at %s is empty: load data with --data FOLDER or `cca backoffice load`",
            db,
        )
    with office.reading() as session:
        catalogue = list(session.scalars(select(Product.name)))
    knowledge = None
    if store_exists(kb):
        from dialogue.knowledge.base import KnowledgeBase

        knowledge = KnowledgeBase.open(kb)
    pack = DomainPack.load(PACK)
    asr, reader, generator, fusion = perception_and_model(asr_model, lm, adapter, pack)
    return AgentServices(
        nlu=NLU.load(catalogue=catalogue, cues=pack.reading_words()[0]), office=office,
        knowledge=knowledge, asr=asr, reader=reader, generator=generator, fusion=fusion,
        policy=DialoguePolicy(), replies=Replies.of(pack),
    )  # fmt: skip
