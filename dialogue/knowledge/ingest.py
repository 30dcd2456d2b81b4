"""Knowledge files in: Markdown, JSON and CSV read into chunks of about 600 characters.

`read_document(path) -> Document` is the one verb. Markdown is cut at its headings into sections
(a chunk's title is the heading path, "Policy > Cards > Lost cards"); a section's text is then
packed into chunks on paragraph, line and sentence boundaries, cutting inside a sentence only
when one sentence alone is over the limit. JSON is a list or a dict of records, or one of the two
ABCD shapes (`kb.json`: flow -> action names; `guidelines.json`: flow -> subflows -> actions).
CSV is one passage per row, question/answer columns when the header has them.

Nothing is lost: the chunks of a section hold every non-space character of it, in order.
A malformed file raises `IngestError` naming the file and the problem.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

EXTENSIONS = {".md": "markdown", ".markdown": "markdown", ".json": "json", ".csv": "csv"}

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_SENTENCE_END = re.compile(r"[.!?;:](?=\s)|[。！？；：]")
_SOFT_BREAK = re.compile(r"\s|[，、,]")
_ACTION_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TITLE_FIELDS = ("title", "name", "question", "heading", "subject", "topic", "问题", "标题")
_ID_FIELDS = ("id", "key", "slug", "uid", "_id")
_QUESTION_COLUMNS = ("question", "q", "query", "title", "prompt", "faq", "问题", "标题")
_ANSWER_COLUMNS = ("answer", "a", "response", "reply", "text", "body", "content", "答案", "回答")


class IngestError(ValueError):
    """A knowledge file that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class ChunkOptions:
    max_chars: int = 600  # a chunk's text is at most this long
    max_file_bytes: int = 64 * 2**20  # larger files are refused (split them first)


@dataclass(frozen=True)
class Chunk:
    source: str  # file path + '#' + section anchor or record key
    title: str  # heading path ("Policy > Returns") or record title
    text: str  # at most ChunkOptions.max_chars characters
    language: str  # "en" or "zh", by script
    content_hash: str  # sha256 of title and text: equal hashes mean equal embeddings

    @property
    def indexed_text(self) -> str:
        """What is embedded and searched: the title, then the text."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class Document:
    path: str  # the resolved file path, the document's key in the store
    kind: str  # "markdown", "json" or "csv"
    content_hash: str  # sha256 of the file's bytes
    chunks: tuple[Chunk, ...]


def detect_language(text: str) -> str:
    """ "zh" when Chinese characters are at least as many as Latin words, else "en"."""
    return "zh" if len(_CJK.findall(text)) >= max(1, len(_LATIN_WORD.findall(text))) else "en"


def content_hash(title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()


# --- chunking --------------------------------------------------------------------------------


def _join(a: str, b: str) -> str:
    """Join two pieces of one paragraph: no space between Chinese, one space otherwise."""
    if not a:
        return b
    return (
        a + ("" if _CJK.match(b[:1]) or _CJK.match(a[-1:]) or a[-1:] in "。！？；：，" else " ") + b
    )


def _hard_split(text: str, limit: int) -> Iterator[str]:
    """Cut one over-long sentence, at the last space or comma before the limit when there is one."""
    while len(text) > limit:
        cut = max((m.end() for m in _SOFT_BREAK.finditer(text, 0, limit)), default=0)
        cut = cut if cut > limit // 2 else limit
        head, text = text[:cut].strip(), text[cut:].strip()
        if head:
            yield head
    if text:
        yield text


def _pieces(paragraph: str, limit: int) -> Iterator[tuple[str, str]]:
    """A paragraph over the limit, cut into lines, then sentences, then hard cuts.

    Yields (piece, separator): "\n" before the first piece of a line, "" inside a line.
    """
    if len(paragraph) <= limit:
        yield paragraph, "\n"
        return
    for line in (x.strip() for x in paragraph.splitlines()):
        separator = "\n"
        if len(line) <= limit:
            if line:
                yield line, separator
            continue
        start = 0
        for end in [m.end() for m in _SENTENCE_END.finditer(line)] + [len(line)]:
            for piece in _hard_split(line[start:end].strip(), limit):
                yield piece, separator
                separator = ""
            start = end


def split_text(text: str, max_chars: int = 600) -> list[str]:
    """Pack `text` into chunks of at most `max_chars` characters on the largest boundary that fits.

    Paragraphs (blank-line separated) are kept whole and packed together while they fit;
    a longer paragraph is cut at line ends, then sentence ends, then spaces.
    """
    if max_chars < 20:
        raise ValueError(f"max_chars={max_chars} is too small to hold a sentence; use 200 or more")
    chunks: list[str] = []
    current = ""
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        for i, (piece, separator) in enumerate(_pieces(paragraph, max_chars)):
            if i == 0:
                joined = current + "\n\n" + piece
            else:
                joined = current + separator + piece if separator else _join(current, piece)
            if not current:
                current = piece
            elif len(joined) <= max_chars:
                current = joined
            else:
                chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def _slug(heading: str) -> str:
    """GitHub-style anchor: lower case, punctuation dropped, spaces to hyphens; keeps Chinese."""
    s = re.sub(r"[^\w\- \u3400-\u4dbf\u4e00-\u9fff]", "", heading.strip().lower())
    return re.sub(r"\s+", "-", s)


def markdown_sections(text: str) -> list[tuple[str, tuple[str, ...], str]]:
    """(anchor, heading path, body) for the text before the first heading and each ATX section.

    Lines inside ``` or ~~~ fences are never headings.
    """
    sections: list[tuple[str, tuple[str, ...], str]] = []
    path: list[str] = []
    anchor, body, fenced, seen = "", [], False, {}
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if not m:
            body.append(line)
            continue
        sections.append((anchor, tuple(path), "\n".join(body)))
        level, heading = len(m.group(1)), m.group(2).strip()
        path = [*path[: level - 1], *[""] * max(0, level - 1 - len(path)), heading]
        base = _slug(heading) or "section"
        anchor = base if base not in seen else f"{base}-{seen[base]}"
        seen[base] = seen.get(base, 0) + 1
        body = []
    sections.append((anchor, tuple(path), "\n".join(body)))
    return [(a, tuple(h for h in p if h), b) for a, p, b in sections if b.strip()]


# --- readers: each yields (key, title, text) records -----------------------------------------


def _read_markdown(path: Path, text: str) -> Iterator[tuple[str, str, str]]:
    for anchor, headings, body in markdown_sections(text):
        yield anchor, " > ".join(headings) or path.stem, body


def _humanise(name: str) -> str:
    return re.sub(r"[-_]+", " ", name).strip()


def _is_abcd_kb(data) -> bool:
    """intent -> list of action slugs ("pull-up-account"), as in ABCD's kb.json."""
    return (
        isinstance(data, dict)
        and bool(data)
        and all(
            isinstance(v, list)
            and v
            and all(isinstance(x, str) and _ACTION_SLUG.match(x) for x in v)
            for v in data.values()
        )
    )


def _is_abcd_guidelines(data) -> bool:
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(v, dict) and isinstance(v.get("subflows"), dict) for v in data.values())
    )


def _abcd_kb(data: dict) -> Iterator[tuple[str, str, str]]:
    """ABCD kb.json: intent -> the actions an agent takes, in order."""
    for intent, actions in data.items():
        title = _humanise(intent).capitalize()
        steps = "; ".join(f"{i}. {_humanise(a)}" for i, a in enumerate(actions, 1))
        yield intent, title, f"To handle {_humanise(intent)}, the agent's steps are: {steps}."


def _abcd_guidelines(data: dict) -> Iterator[tuple[str, str, str]]:
    """ABCD guidelines.json: flow -> {description, subflows: {name: {instructions, actions}}}."""
    for flow, spec in data.items():
        for name, sub in spec["subflows"].items():
            if not isinstance(sub, dict):
                raise ValueError(f"subflow {flow}/{name} is a {type(sub).__name__}, not an object")
            parts = [f"{flow} ({spec.get('description', '')}): {name}."]
            instructions = [str(x) for x in sub.get("instructions", [])]
            parts += instructions[:1]
            for action in sub.get("actions", []):
                lines = [f"[{action.get('button', '')}] {action.get('text', '')}".strip()]
                lines += [f"- {s}" for s in map(str, action.get("subtext", [])) if s.strip()]
                parts.append("\n".join(lines))
            parts += instructions[1:]
            yield f"{flow}/{name}", f"{flow} > {name}", "\n\n".join(parts)


def _is_scalar(value) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _lines(value, key: str = "") -> Iterator[str]:
    """A JSON value as lines of text: a string as it is, nested values as "path: value"."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _lines(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list) and all(_is_scalar(v) for v in value):
        items = ", ".join(s for s in (str(v).strip() for v in value) if s)
        if items:
            yield f"{key}: {items}" if key else items
    elif isinstance(value, list):
        for v in value:
            yield from _lines(v, key)
    elif _is_scalar(value) and str(value).strip():
        yield f"{key}: {str(value).strip()}" if key else str(value).strip()


def _record(key: str, value, default_title: str) -> tuple[str, str, str]:
    """One record's (key, title, text): its title field if any; text fields as paragraphs,
    other fields as "field: value" lines."""
    if not isinstance(value, dict):
        return key, default_title, "\n".join(_lines(value))
    lower = {k.lower(): k for k in value}
    title_field = next((lower[f] for f in _TITLE_FIELDS if f in lower), None)
    id_field = next((lower[f] for f in _ID_FIELDS if f in lower), None)
    title = str(value[title_field]).strip() if title_field else default_title
    paragraphs = [
        value[k].strip() if isinstance(value[k], str) else "\n".join(_lines(value[k], k))
        for k in value
        if k not in (title_field, id_field)
    ]
    return key, title, "\n\n".join(p for p in paragraphs if p)


def _read_json(path: Path, text: str) -> Iterator[tuple[str, str, str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    if _is_abcd_guidelines(data):
        yield from _abcd_guidelines(data)
    elif _is_abcd_kb(data):
        yield from _abcd_kb(data)
    elif isinstance(data, dict) and data:
        for key, value in data.items():
            yield _record(str(key), value, str(key))
    elif isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        for i, value in enumerate(data):
            id_field = next((k for k in value if k.lower() in _ID_FIELDS), None)
            key = str(value[id_field]) if id_field else str(i)
            yield _record(key, value, f"{path.stem} {key}")
    else:
        shape = type(data).__name__ if data else f"an empty {type(data).__name__}"
        raise ValueError(
            f"expected a list of records (objects) or an object of records, got {shape}"
        )


def _read_csv(path: Path, text: str) -> Iterator[tuple[str, str, str]]:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as e:
        raise ValueError(f"not valid CSV: {e}") from e
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ValueError("empty CSV: expected a header row and one row per passage")
    header = [h.strip() for h in rows[0]]
    if any(not h for h in header):
        raise ValueError(f"the header row has an empty column name: {rows[0]}")
    lower = {h.lower(): i for i, h in enumerate(header)}
    q = next((lower[c] for c in _QUESTION_COLUMNS if c in lower), None)
    a = next((lower[c] for c in _ANSWER_COLUMNS if c in lower and lower[c] != q), None)
    ident = next((lower[c] for c in _ID_FIELDS if c in lower), None)
    for n, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise ValueError(f"row {n} has {len(row)} fields, the header has {len(header)}")
        key = row[ident].strip() if ident is not None and row[ident].strip() else f"row{n}"
        if q is not None and a is not None:
            yield key, row[q].strip(), row[a].strip()
        else:
            cells = [(h, c.strip()) for h, c in zip(header, row, strict=True) if c.strip()]
            title = cells[0][1][:80] if cells else key
            yield key, title, "\n".join(f"{h}: {c}" for h, c in cells)


READERS = {"markdown": _read_markdown, "json": _read_json, "csv": _read_csv}


def read_document(path: str | Path, options: ChunkOptions = ChunkOptions()) -> Document:
    """Read one knowledge file into chunks. Raises `IngestError` naming the file and the problem."""
    path = Path(path)
    kind = EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        raise IngestError(f"{path}: unsupported file type; supported: {sorted(EXTENSIONS)}")
    try:
        size = path.stat().st_size
        if size > options.max_file_bytes:
            raise IngestError(
                f"{path}: {size / 2**20:.1f} MiB is over the {options.max_file_bytes / 2**20:.0f} "
                "MiB limit; split it, or raise ChunkOptions.max_file_bytes"
            )
        data = path.read_bytes()
    except OSError as e:
        raise IngestError(f"{path}: cannot read: {e.strerror or e}") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise IngestError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from e
    resolved = path.resolve().as_posix()
    chunks = []
    try:
        for key, title, body in READERS[kind](path, text):
            source = f"{resolved}#{key}" if key else resolved
            for piece in split_text(body, options.max_chars):
                chunks.append(
                    Chunk(source, title, piece, detect_language(piece), content_hash(title, piece))
                )
    except ValueError as e:
        raise IngestError(f"{path}: {e}") from e
    return Document(resolved, kind, hashlib.sha256(data).hexdigest(), tuple(chunks))


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and folders searched recursively for supported files (hidden ones skipped).

    A path that does not exist is kept, so that reading it reports the error for that file.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in EXTENSIONS
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        else:
            out.append(p)
    return out
