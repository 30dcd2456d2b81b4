"""`cca domain check` for a pack's declared tools, policy, slots and templates:
`check_declarations(pack)` lists every problem as (level, path, line, message)."""

from __future__ import annotations

from dialogue.domain.pack import PACK_FILE, DomainError, DomainPack
from dialogue.policy.declare import REPLIES, line_of, load_declarations
from dialogue.policy.pack_tools import implementation


def check_declarations(pack: DomainPack) -> list[tuple[str, str, int, str]]:
    """The problems of a pack's declared tools, policy, slots and templates, as (level, path,
    line, message): an error stops the pack's agent, a warning makes it answer badly."""
    try:
        d = load_declarations(pack)
    except DomainError as e:
        head, _, message = str(e).partition(": ")
        path, _, line = head.rpartition(":")
        return [
            ("error", path, int(line), message) if line.isdigit() else ("error", head, 0, message)
        ]
    out = []
    tools_file = pack.root / pack.tables["tools"]["file"]
    for tool in d.tools.values():
        try:
            implementation(tool, pack.root)
        except DomainError as e:
            out.append(("error", str(tools_file), tool.line, str(e).split(": ", 2)[-1]))
        for what in ("summary", "done", "reply"):
            words = getattr(tool, what)
            for language in pack.languages:
                if words and not words.get(language):
                    out.append(("warning", str(tools_file), tool.line, f"{tool.name}: {what} has no {language!r} text; it is said in English"))  # fmt: skip
    templates = pack.root / pack.tables.get("templates", {}).get("file", PACK_FILE)
    for key in REPLIES:
        for language in pack.languages:
            if not d.templates[key].get(language):
                out.append(("warning", str(templates), line_of(templates, f"[{key}]"), f"[{key}] has no {language!r} text; it is said in English"))  # fmt: skip
    toml = pack.root / PACK_FILE
    asked = {n for t in d.policy.tasks for n in t.slots}  # an optional slot is never asked for
    for slot in d.slots.values():
        if slot.name in asked and not slot.prompt and not slot.choose:
            out.append(("warning", str(toml), line_of(toml, f"[slots.{slot.name}]"), f"[slots.{slot.name}] has no prompt: the agent cannot ask for it"))  # fmt: skip
    if d.policy.auth is None and any(not t.open for t in d.tools.values()):
        out.append(("warning", str(toml), line_of(toml, "[policy]"), "[policy] has no auth: no tool but an open one can run; add auth = {tool = ..., factors = [...]}"))  # fmt: skip
    return out
