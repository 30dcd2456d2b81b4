"""`cca domain`: make a new domain pack, or check one.

cca domain new NAME [--dir PARENT]     a pack folder PARENT/NAME to fill in
cca domain check DIR                   every problem, with file and line; exit 1 on errors
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from dialogue.domain.check import check_pack

DOMAIN_TOML = """\
# The {name} pack. `cca domain check {folder}` validates it.
[domain]
name = "{name}"
languages = ["en", "zh"]
persona = "You are the {name} team's assistant: short, polite answers; never guess an account fact."

[handoff]
number = ""  # E.164 number a caller is transferred to, e.g. "+15551234567"
uri = ""     # or a SIP or web address of the team

[intents]
file = "intents.csv"  # text,intent[,language]; intent out_of_scope for what you do not handle

[intents.labels]  # optional: each intent in words per language, as the demo's panel shows it
greeting = {{ en = "Greeting", zh = "问候" }}
talk_to_human = {{ en = "Asks for a person", zh = "转人工" }}
out_of_scope = {{ en = "Not something we handle", zh = "超出服务范围" }}

[knowledge]
dir = "knowledge"  # Markdown, JSON and CSV; `cca kb add --domain {folder}`

[model]
dir = "model"  # written by `cca nlu train --domain {folder}`

# Read by later stages of the agent; accepted and kept now:
# [tools]  [policy]  [slots]  [templates]
"""

INTENTS_CSV = """\
text,intent,language
hello,greeting,en
hi there,greeting,en
good morning,greeting,en
你好,greeting,zh
I want to speak to a person,talk_to_human,en
can I talk to someone real,talk_to_human,en
get me an agent please,talk_to_human,en
转人工,talk_to_human,zh
what's the weather tomorrow,out_of_scope,en
tell me a joke,out_of_scope,en
明天天气怎么样,out_of_scope,zh
"""

KNOWLEDGE_MD = """\
# {name}

## Opening hours

Write what your customers ask most, one heading per topic, in each language you serve.
"""

GITIGNORE = "# large files made on each machine by `cca nlu train --domain`\nmodel/encoder/\n"


def new_pack(name: str, parent: Path = Path(".")) -> Path:
    """Write a starter pack into parent/name; refuses to overwrite a folder that exists."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ValueError(f"pack name {name!r}: use lower-case letters, digits, - and _ (e.g. bank)")
    folder = Path(parent) / name
    if folder.exists():
        raise FileExistsError(f"{folder} already exists; pick another name or --dir")
    (folder / "knowledge").mkdir(parents=True)
    (folder / "domain.toml").write_text(
        DOMAIN_TOML.format(name=name, folder=folder), encoding="utf-8"
    )
    (folder / "intents.csv").write_text(INTENTS_CSV, encoding="utf-8")
    (folder / "knowledge" / "faq.md").write_text(KNOWLEDGE_MD.format(name=name), encoding="utf-8")
    (folder / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cca domain", description="domain packs: new, check")
    sub = p.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="make a starter pack folder")
    new.add_argument("name", help="the pack's name, e.g. bank")
    new.add_argument("--dir", type=Path, default=Path("."), help="where to make it (default .)")
    check = sub.add_parser("check", help="list a pack's problems with file and line")
    check.add_argument("folder", type=Path)
    check.add_argument("--quiet", action="store_true", help="errors and warnings only")
    args = p.parse_args(argv)
    if args.command == "new":
        try:
            folder = new_pack(args.name, args.dir)
        except (ValueError, OSError) as e:
            print(f"cca domain new: {e}", file=sys.stderr)
            return 2
        print(f"made {folder}: edit domain.toml, intents.csv and knowledge/, then")
        print(f"  cca domain check {folder} && cca nlu train --domain {folder}")
        return 0
    problems = check_pack(args.folder)
    shown = [x for x in problems if not (args.quiet and x.level == "note")]
    for problem in shown:
        print(problem, file=sys.stderr if problem.level == "error" else sys.stdout)
    errors = sum(x.level == "error" for x in problems)
    warnings = sum(x.level == "warning" for x in problems)
    print(f"{args.folder}: {errors} error(s), {warnings} warning(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
