"""The sample shop's intent labels and the data its packaged intent head is trained and tested on
(`cca nlu train` and `cca nlu eval` for the shop, through its [code] nlu_train and nlu_eval).

Sources (the public ones live under `--data`, default $CCA_INTENT_DATA or shared/data/intents
beside the checkout; the hand-written ones ship in domains/retail/data/):

- Bitext customer-service intents (train/validation/test CSVs), mapped onto our labels by
  `BITEXT_TO_LABEL`; intents with no retail counterpart are dropped.
- Banking77 as out-of-scope: a banking question is outside a retail agent's job. Categories a
  retail customer could say in the same words (refunds, declined payments, identity, passcodes,
  "my card hasn't arrived") are left out, `BANKING77_DEV_OOS` categories are held out to tune the
  threshold, and `BANKING77_TEST_OOS` ones are held out entirely for the evaluation.
- data/intents_handwritten.jsonl: retail turns written by hand in English and Chinese
  (spoken style, typos, ids), with a fixed train/dev/test split in each row.
- data/intents_zh_translated.jsonl: Chinese translations, written by hand, of a sample
  of English test utterances (Bitext test and held-out Banking77), for the Chinese test only.

Dev and test texts that also appear in train (case- and space-insensitive) are dropped.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dialogue.nlu.embed_cache import embed_cached
from dialogue.nlu.intents import (
    OUT_OF_SCOPE,
    EvalReport,
    IntentHead,
    IntentHeadConfig,
    evaluate,
    train_intent_head,
    tune_threshold,
)
from dialogue.paths import shared_data

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
# The shop's label set. delivery_options is how shipping works (methods, costs, countries, how
# long standard delivery takes); when *my* order will arrive is order_status. thanks_goodbye
# covers both; account is profile, password, sign-up, deletion.
LABELS = (
    "order_status", "cancel_order", "return_item", "exchange_item", "change_address",
    "change_payment", "modify_order_items", "refund_status", "payment_issue", "delivery_options",
    "complaint", "account", "product_info", "talk_to_human", "greeting", "thanks_goodbye",
    "affirm", "deny", OUT_OF_SCOPE,
)  # fmt: skip
HANDWRITTEN = DATA_DIR / "intents_handwritten.jsonl"
TRANSLATED = DATA_DIR / "intents_zh_translated.jsonl"
SPLITS = ("train", "dev", "test")

# Bitext intent -> our label, or None to drop it (no retail counterpart in our label set)
BITEXT_TO_LABEL: dict[str, str | None] = {
    "track_order": "order_status",
    "cancel_order": "cancel_order",
    "get_refund": "return_item",  # "I want my money back" starts a return
    "track_refund": "refund_status",
    "change_order": "modify_order_items",  # "swap several items of order ..."
    "change_shipping_address": "change_address",
    "set_up_shipping_address": "change_address",  # the default address
    "payment_issue": "payment_issue",
    "delivery_options": "delivery_options",
    "delivery_period": "order_status",  # nearly all "when will MY parcel arrive": a lookup
    "complaint": "complaint",
    "contact_customer_service": "talk_to_human",
    "contact_human_agent": "talk_to_human",
    "create_account": "account",
    "delete_account": "account",
    "edit_account": "account",
    "recover_password": "account",
    "registration_problems": "account",
    "switch_account": "account",
    "newsletter_subscription": "account",  # a profile preference
    "check_cancellation_fee": None,  # subscription early-exit fees: not an order
    "check_invoice": None,
    "get_invoice": None,
    "check_payment_methods": None,  # a store FAQ, not changing an order's payment
    "check_refund_policy": None,  # policy FAQ: close to both return_item and refund_status
    "place_order": None,
    "review": None,
}
# Banking77 categories a retail customer could word the same way: not used as out-of-scope.
BANKING77_EXCLUDED = frozenset({
    "request_refund", "Refund_not_showing_up", "edit_personal_details", "terminate_account",
    "passcode_forgotten", "change_pin", "card_arrival", "card_delivery_estimate",
    "declined_card_payment", "transaction_charged_twice", "extra_charge_on_statement",
    "pending_card_payment", "card_payment_not_recognised", "reverted_card_payment?",
    "card_payment_fee_charged", "supported_cards_and_currencies", "card_acceptance",
    "visa_or_mastercard", "apple_pay_or_google_pay", "country_support", "cancel_transfer",
    "verify_my_identity", "why_verify_identity", "unable_to_verify_identity", "age_limit",
    "order_physical_card", "lost_or_stolen_phone", "direct_debit_payment_not_recognised",
})  # fmt: skip
BANKING77_DEV_OOS = frozenset({
    "fiat_currency_support", "pin_blocked", "declined_cash_withdrawal", "receiving_money",
    "automatic_top_up", "virtual_card_not_working", "lost_or_stolen_card",
    "balance_not_updated_after_bank_transfer",
})  # fmt: skip
BANKING77_TEST_OOS = frozenset({
    "exchange_rate", "atm_support", "card_swallowed", "pending_cash_withdrawal", "top_up_limits",
    "transfer_timing", "get_disposable_virtual_card", "beneficiary_not_allowed",
    "verify_source_of_funds", "contactless_not_working", "exchange_charge", "card_about_to_expire",
})  # fmt: skip
HELD_OUT_PER_CATEGORY = 50  # examples kept from each held-out Banking77 category


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    language: str  # "en" or "zh"
    source: str  # "bitext", "banking77", "handwritten", "translated"
    split: str  # "train", "dev" or "test"


def default_data_root() -> Path:
    env = os.environ.get("CCA_INTENT_DATA")  # folder with bitext/ and banking77/
    return Path(env) if env else shared_data() / "intents"


def _stable_fraction(text: str) -> float:
    return zlib.crc32(text.encode()) / 2**32


def load_bitext(root: Path) -> list[Example]:
    files = {"train": "Training", "dev": "Validation", "test": "Testing"}
    out = []
    for split, name in files.items():
        path = root / "bitext" / f"Bitext_Sample_Customer_Service_{name}_Dataset.csv"
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                if row["intent"] not in BITEXT_TO_LABEL:
                    raise ValueError(
                        f"{path}: Bitext intent {row['intent']!r} is not in BITEXT_TO_LABEL; "
                        "map it to a label or to None"
                    )
                label = BITEXT_TO_LABEL[row["intent"]]
                if label:
                    out.append(Example(row["utterance"].strip(), label, "en", "bitext", split))
    return out


def load_banking77(root: Path, dev_fraction: float = 0.1) -> list[Example]:
    path = root / "banking77" / "train.csv"
    by_category = defaultdict(list)
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            by_category[row["category"]].append(row["text"].strip())
    missing = (BANKING77_EXCLUDED | BANKING77_DEV_OOS | BANKING77_TEST_OOS) - set(by_category)
    if missing:
        raise ValueError(f"{path} has no categories {sorted(missing)}; is it Banking77?")
    out = []
    for category, texts in sorted(by_category.items()):
        if category in BANKING77_EXCLUDED:
            continue
        if category in BANKING77_DEV_OOS or category in BANKING77_TEST_OOS:
            split = "dev" if category in BANKING77_DEV_OOS else "test"
            kept = sorted(texts, key=_stable_fraction)[:HELD_OUT_PER_CATEGORY]
            out += [Example(t, OUT_OF_SCOPE, "en", "banking77", split) for t in kept]
        else:
            out += [
                Example(
                    t,
                    OUT_OF_SCOPE,
                    "en",
                    "banking77",
                    "dev" if _stable_fraction(t) < dev_fraction else "train",
                )  # fmt: skip
                for t in texts
            ]
    return out


def load_jsonl(path: Path, source: str) -> list[Example]:
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("split", "test") not in SPLITS:
                raise ValueError(f"{path}:{n}: split {row.get('split')!r} not in {SPLITS}")
            out.append(
                Example(row["text"], row["intent"], row["lang"], source, row.get("split", "test"))
            )
    return out


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def build_dataset(root: Path | None = None) -> dict[str, list[Example]]:
    """split -> examples, from every source (see the module docstring)."""
    root = Path(root) if root else default_data_root()
    if not (root / "bitext").is_dir() or not (root / "banking77").is_dir():
        raise FileNotFoundError(
            f"{root} needs bitext/ and banking77/ folders; pass --data DIR or set CCA_INTENT_DATA"
        )
    examples = load_bitext(root) + load_banking77(root)
    examples += load_jsonl(HANDWRITTEN, "handwritten") + load_jsonl(TRANSLATED, "translated")
    seen = {_key(e.text) for e in examples if e.split == "train"}
    splits: dict[str, list[Example]] = {s: [] for s in SPLITS}
    dropped = 0
    for e in examples:
        if e.split != "train" and _key(e.text) in seen:
            dropped += 1
            continue
        splits[e.split].append(e)
    logger.info("dropped %d dev/test texts also in train", dropped)
    return splits


# ---------------------------------------------------------------- embeddings, cached on disk


# ---------------------------------------------------------------- fit and evaluate


def fit(
    splits: dict[str, list[Example]], encoder, config: IntentHeadConfig | None = None,
    handwritten_weight: float = 2.0, progress: bool = True,
) -> IntentHead:  # fmt: skip
    """Train the head on splits["train"], stop and tune the threshold on splits["dev"].

    handwritten_weight: per-example weight of the hand-written turns (the only Chinese and
        spoken-style training data) relative to the public datasets, within each class
    """
    train, dev = splits["train"], splits["dev"]
    x = embed_cached(encoder, [e.text for e in train], progress=progress)
    x_dev = embed_cached(encoder, [e.text for e in dev], progress=progress)
    weights = np.array([handwritten_weight if e.source == "handwritten" else 1.0 for e in train])
    y_dev = [e.intent for e in dev]
    head = train_intent_head(
        x, [e.intent for e in train], x_dev, y_dev, encoder.name, config or IntentHeadConfig(),
        LABELS, sample_weight=weights, progress=progress,
    )  # fmt: skip
    threshold, dev_f1 = tune_threshold(head, x_dev, y_dev)
    logger.info("threshold %.2f (dev macro-F1 %.3f)", threshold, dev_f1)
    record = {**head.config, "handwritten_weight": handwritten_weight, "dev_macro_f1": dev_f1}
    return replace(head, threshold=threshold, config=record)


def test_groups(examples: Sequence[Example]) -> dict[str, list[Example]]:
    """The groups the evaluation reports: per language, and the Chinese test by source."""
    return {
        "English test (Bitext test, held-out Banking77 categories, hand-written)": [
            e for e in examples if e.language == "en"
        ],
        "  of which hand-written English": [
            e for e in examples if e.language == "en" and e.source == "handwritten"
        ],
        "Chinese test (hand-written and hand-translated)": [
            e for e in examples if e.language == "zh"
        ],
        "  of which hand-written Chinese": [
            e for e in examples if e.language == "zh" and e.source == "handwritten"
        ],
        "  of which translated from the English test": [
            e for e in examples if e.source == "translated"
        ],
    }


def evaluate_head(
    head: IntentHead, encoder, examples: Sequence[Example], progress: bool = True
) -> dict[str, EvalReport]:
    x = embed_cached(encoder, [e.text for e in examples], progress=progress)
    pred = [p.intent for p in head.predict(x)] if len(examples) else []
    by_text = dict(zip((id(e) for e in examples), pred, strict=True))
    return {
        name: evaluate([e.intent for e in group], [by_text[id(e)] for e in group])
        for name, group in test_groups(examples).items()
        if group
    }
