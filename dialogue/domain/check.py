"""Every problem of a domain pack at once, each naming its file and line: `check_pack(folder)`.

Errors stop the pack from working (no domain.toml, a malformed intents.csv row, a knowledge file
that cannot be read); warnings make it work badly (an intent with one example, no out-of-scope
examples, no handoff, a label for an intent the pack does not have); notes say what is missing but
can be made (the trained model, an intent's label in words) or what this version accepts without
using yet (tools, policy, slots: a pack's declared policy reads them).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from dialogue.domain.pack import (
    KNOWN_TABLES,
    LATER_TABLES,
    OUT_OF_SCOPE,
    PACK_FILE,
    DomainError,
    DomainPack,
    read_intents,
    readable,
)

MIN_EXAMPLES = 3  # fewer examples of an intent than this is a warning
LEVELS = ("error", "warning", "note")


@dataclass(frozen=True)
class Problem:
    level: str  # "error", "warning" or "note"
    path: str  # the file (or folder) concerned
    message: str  # what is wrong and how to fix it
    line: int = 0  # 1-based line in the file, 0 when not about one line

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{self.level}: {where}: {self.message}"


def _from_error(e: DomainError) -> Problem:
    """A DomainError's text starts with "path[:line]: "; keep the two apart."""
    head, _, message = str(e).partition(": ")
    path, _, line = head.rpartition(":")
    if line.isdigit():
        return Problem("error", path, message, int(line))
    return Problem("error", head, message)


def check_pack(folder: str | Path) -> list[Problem]:
    """The pack's problems, errors first; [] for a pack with none."""
    try:
        pack = DomainPack.load(folder)
    except DomainError as e:
        return [_from_error(e)]
    problems = _check_toml(pack)
    problems += _check_intents(pack)
    problems += _check_labels(pack)
    problems += _check_knowledge(pack)
    problems += _check_model(pack)
    problems += _check_declared(pack)
    problems += _check_code_and_cues(pack)
    return sorted(problems, key=lambda p: LEVELS.index(p.level))


def _check_toml(pack: DomainPack) -> list[Problem]:
    where = str(pack.root / PACK_FILE)
    out = []
    declared = bool(pack.tables.get("tools", {}).get("file"))  # checked by _check_declared
    for name in pack.tables:
        if name in LATER_TABLES and declared:
            continue
        if name in LATER_TABLES:
            out.append(Problem("note", where, f"[{name}] accepted; this version does not use it"))
        elif name not in KNOWN_TABLES:
            out.append(Problem("warning", where, f"unknown table [{name}] (a typo? known: "
                               f"{', '.join(KNOWN_TABLES)})"))  # fmt: skip
    if not pack.handoff.number and not pack.handoff.uri:
        out.append(Problem("warning", where, '[handoff] has no number or uri: a caller who asks '
                           'for a person cannot be transferred; add number = "+1..."'))  # fmt: skip
    for name in ("tools.py", "policy.toml", "slots.toml", "templates"):
        if (pack.root / name).exists() and not declared:
            out.append(Problem("note", str(pack.root / name), "not named in domain.toml's [tools], [policy], [slots] or [templates], so the declared policy does not read it (a pack with policy code of its own, as the sample shop, uses it there)"))  # fmt: skip
    return out


def _check_code_and_cues(pack: DomainPack) -> list[Problem]:
    """Every [code] entry importable, the [cues], [templates] and [screens] files readable, the
    [fields] and [kinds] words well formed, the [promises] patterns compiled, each a core kind
    or with a pattern of its own (the guard's `promises_of`, which the agent's services read at
    start)."""
    from dialogue.policy.guard import promises_of

    out = []
    for name in pack.tables.get("code", {}):
        try:
            pack.code(name)
        except DomainError as e:
            out.append(_from_error(e))
    screens = (pack.screen_words,) if "screens" in pack.tables else ()
    reads = (pack.cue_book, pack.reading_words, pack.reply_templates, lambda: promises_of(pack))
    for read in (*reads, *screens):
        try:
            read()
        except DomainError as e:
            out.append(_from_error(e))
    return out


def _check_declared(pack: DomainPack) -> list[Problem]:
    """The declared tools, policy, slots and templates (`dialogue.policy.pack_check`)."""
    if not pack.tables.get("tools", {}).get("file"):
        return []
    from dialogue.policy.pack_check import check_declarations

    return [Problem(level, path, message, line) for level, path, line, message in check_declarations(pack)]  # fmt: skip


def _check_intents(pack: DomainPack) -> list[Problem]:
    path = str(pack.intents_file)
    try:
        rows = pack.intents()
    except DomainError as e:
        return [_from_error(e)]
    except (OSError, UnicodeDecodeError) as e:
        return [Problem("error", path, f"cannot read it ({e}); save it as UTF-8 CSV")]
    if not rows:
        return [Problem("error", path, "no examples; add rows of text,intent")]
    out = []
    counts = Counter(r.intent for r in rows)
    for intent, n in sorted(counts.items()):
        if n < MIN_EXAMPLES and intent != OUT_OF_SCOPE:
            first = next(r.line for r in rows if r.intent == intent)
            out.append(Problem("warning", path, f"intent {intent!r} has {n} example(s); give at "
                               f"least {MIN_EXAMPLES}, better 10", first))  # fmt: skip
    if len(counts) - (OUT_OF_SCOPE in counts) < 2:
        out.append(Problem("error", path, "needs at least two intents besides out_of_scope"))
    if OUT_OF_SCOPE not in counts:
        out.append(Problem("warning", path, f"no {OUT_OF_SCOPE!r} examples: turns the business "
                           "does not handle can only be caught by a threshold tuned without "
                           "them; add some (other businesses' questions, chit-chat)"))  # fmt: skip
    labels_of = defaultdict(set)
    for r in rows:
        labels_of[" ".join(r.text.lower().split())].add((r.intent, r.line))
    for variants in labels_of.values():
        if len({i for i, _ in variants}) > 1:
            lines = sorted(n for _, n in variants)
            out.append(Problem("warning", path, f"the same text has intents "
                               f"{sorted({i for i, _ in variants})} (lines {lines})", lines[0]))  # fmt: skip
    for name in pack.tables.get("intents", {}).get("eval", []):
        try:
            list(read_intents(pack.root / name))
        except DomainError as e:
            out.append(_from_error(e))
        except OSError as e:
            out.append(Problem("error", str(pack.root / name), f"listed in [intents] eval: {e}"))
    by_language = Counter(r.language for r in rows)
    for language in pack.languages:
        if not by_language[language]:
            out.append(Problem("warning", path, f"no examples in {language!r}, a language of the "
                               "pack; the multilingual encoder carries over, less well"))  # fmt: skip
    return out


def _check_labels(pack: DomainPack) -> list[Problem]:
    """[intents.labels]: each for an intent of the pack, and every intent named in words in each
    of the pack's languages (else it reads as its code made readable)."""
    where = str(pack.root / PACK_FILE)
    try:
        known = {r.intent for r in pack.intents()} | {OUT_OF_SCOPE}
    except (DomainError, OSError, UnicodeDecodeError):
        return []  # _check_intents says why
    out = []
    unknown = sorted(set(pack.intent_labels) - known)
    if unknown:
        out.append(Problem("warning", where, f"[intents.labels] names intents that intents.csv "
                           f"does not have: {unknown} (a typo?)"))  # fmt: skip
    for language in pack.languages:
        bare = sorted(i for i in known if language not in pack.intent_labels.get(i, {}))
        if bare:
            shown = ", ".join(bare[:5]) + (f" and {len(bare) - 5} more" if len(bare) > 5 else "")
            out.append(Problem("note", where, f"{len(bare)} intent(s) have no label in "
                               f"{language!r} ({shown}); they read as their code made readable "
                               f'("{readable(bare[0])}"); add [intents.labels] {bare[0]} = '
                               f'{{ {language} = "..." }}'))  # fmt: skip
    return out


def _check_knowledge(pack: DomainPack) -> list[Problem]:
    from dialogue.knowledge.ingest import EXTENSIONS, IngestError, read_document

    folder = pack.knowledge_dir
    if not folder.is_dir():
        return [Problem("warning", str(folder), "no knowledge folder: the agent cannot answer "
                        "questions about rules and products; add Markdown, JSON or CSV files")]  # fmt: skip
    out, n = [], 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix.lower() not in EXTENSIONS:
            out.append(Problem("note", str(path), f"ignored: not one of {sorted(EXTENSIONS)}"))
            continue
        try:
            n += len(read_document(path).chunks)
        except IngestError as e:
            out.append(Problem("error", str(path), str(e)))
    if not n and not any(p.level == "error" for p in out):
        out.append(Problem("warning", str(folder), "no knowledge in it; add .md .json or .csv"))
    return out


def _check_model(pack: DomainPack) -> list[Problem]:
    from dialogue.nlu.intents import IntentHead

    run = f"cca nlu train --domain {pack.root}"
    if not pack.head_path.is_file():
        return [Problem("note", str(pack.head_path), f"no trained intent model yet; run `{run}`")]
    try:
        head = IntentHead.load(pack.head_path)
    except ValueError as e:
        return [Problem("error", str(pack.head_path), f"{e}")]
    out = []
    try:
        wanted = {r.intent for r in pack.intents()}
    except (DomainError, OSError, UnicodeDecodeError):
        wanted = set(head.labels)
    if wanted - set(head.labels):
        out.append(Problem("warning", str(pack.head_path), f"trained without intents "
                           f"{sorted(wanted - set(head.labels))}; run `{run}` again"))  # fmt: skip
    blend = head.config.get("blend") or {}
    if blend.get("weight") and not (pack.encoder_dir / "labels.json").is_file():
        out.append(Problem("note", str(pack.encoder_dir), "no fine-tuned encoder: English turns "
                           f"use the multilingual head alone; `{run}` makes one"))  # fmt: skip
    return out
