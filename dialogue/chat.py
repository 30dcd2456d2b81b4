"""`cca chat`: talk to the agent in a terminal, or run a scripted conversation.

    cca chat [--domain PACK] [--db URL] [--data FOLDER] [--kb URL] [--audio FILE] [--image FILE]
    cca chat --script TURNS.json [--json]

Interactive: type a turn; `/audio PATH` and `/image PATH` (repeatable, then the text) add a
recording or a screenshot to the next turn; `/quit` ends. `--script` runs a list of turns
`[{"text"?, "audio"?, "image"?: path or list of paths}, ...]` and prints one JSON object per turn.
The agent is the pack's (`--domain`, else `CCA_DOMAIN`, else the sample pack): a pack whose parts
are Python builds its services with its [code] services (`--data` loads a folder into its back
office first); a pack that declares its tools gets `build_pack_services`. The offline profile: the
packaged NLU head and sentence encoder, the back office in SQLite, the knowledge base if one was
built (`cca kb add`), the packaged Whisper base and RapidOCR loaded the first time a turn needs them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from dialogue.agent import Agent, AgentServices, CustomerTurn
from dialogue.knowledge.store import store_exists
from dialogue.lm.shipped import add_lm_args, choose
from vision.fields import CORE_CUES

logger = logging.getLogger(__name__)

DEFAULT_KB = "sqlite:///knowledge.db"


class _Lazy:
    """Builds a model the first time a turn needs it (Whisper takes seconds to load)."""

    def __init__(self, build, what: str):
        self._build, self._what, self._obj = build, what, None

    def __getattr__(self, name):
        if self._obj is None:
            logger.info("loading %s", self._what)
            self._obj = self._build()
        return getattr(self._obj, name)


def perception_and_model(asr_model: str, lm: str | None, adapter: str | None, pack=None):
    """(asr, reader, generator, fusion): Whisper and the screenshot reader (with the words of
    `pack`, a DomainPack, beside the core's), loaded the first time a turn needs them, and the
    dialogue model when one is named (else the templates phrase)."""

    def asr():
        from voice.asr.context import TURN_CONTEXT_PAD_S
        from voice.asr.stt import WithVAD
        from voice.asr.types import ASROptions
        from voice.asr.vad import SileroVAD
        from voice.asr.whisper import WhisperASR

        # a customer's turn is a few seconds: the encoder reads it and some padding, not 30 s
        options = ASROptions(context_pad_s=TURN_CONTEXT_PAD_S)
        model, vad = WhisperASR.from_pretrained(asr_model, options=options), SileroVAD.load()

        return WithVAD(model, vad)

    encoder = {"name": "auto"}  # the projector's own encoder, when the adapter brings one

    def reader():
        from vision.see import ScreenshotReader

        cues, kinds = pack.reading_words() if pack else (CORE_CUES, None)
        return ScreenshotReader.from_names(encoder=encoder["name"], cues=cues, kind_words=kinds)

    generator = fusion = None
    if lm:  # the dialogue model phrases the policy's decisions; without one, the templates do
        from dialogue.lm.engines import build_generator

        generator, fusion, image_encoder = build_generator(lm, adapter)
        encoder["name"] = image_encoder or encoder["name"]
    return (
        _Lazy(asr, f"Whisper {asr_model}"),
        _Lazy(reader, "the screenshot reader"),
        generator,
        fusion,
    )


def build_pack_services(
    folder: str | Path, db: str | None = None, kb: str | None = None,
    lm: str | None = None, adapter: str | None = None, asr_model: str = "base",
) -> AgentServices:  # fmt: skip
    """The agent of a domain pack that declares its tools: its intent model, its back office
    (`db`, default the pack's [tools] db), its tools and policy, and its knowledge (`kb`, else
    the pack's knowledge/ indexed into sqlite:///NAME_knowledge.db, unchanged files skipped)."""
    from dialogue.domain.pack import DomainPack
    from dialogue.knowledge.base import KnowledgeBase
    from dialogue.nlu.understand import NLU
    from dialogue.policy.declare import load_declarations
    from dialogue.policy.declared import DeclaredPolicy
    from dialogue.policy.pack_tools import PackTools, open_office
    from dialogue.policy.reply import Replies

    pack = DomainPack.load(folder)
    declarations = load_declarations(pack)
    office = open_office(declarations, db)
    tools = PackTools(declarations, office)
    knowledge = None
    if kb and store_exists(kb):
        knowledge = KnowledgeBase.open(kb)
    elif pack.knowledge_dir.is_dir():
        knowledge = KnowledgeBase.open(kb or f"sqlite:///{pack.name}_knowledge.db")
        knowledge.add([pack.knowledge_dir])
    asr, reader, generator, fusion = perception_and_model(asr_model, lm, adapter, pack)
    return AgentServices(
        nlu=NLU.from_domain(pack.root), office=office, knowledge=knowledge, asr=asr, reader=reader,
        generator=generator, fusion=fusion, policy=DeclaredPolicy(declarations), sessions=tools.session,
        replies=Replies.of(pack),
    )  # fmt: skip


def build_services(
    domain: str | Path | None = None, db: str | None = None, kb: str | None = None,
    data: str | None = None, lm: str | None = None, adapter: str | None = None,
    asr_model: str = "base", code_kb: str | None = None,
) -> AgentServices:  # fmt: skip
    """The agent services of the pack at `domain` (default: `dialogue.domain.pack.default_pack`):
    its own [code] services when it declares them (with `kb`, else `code_kb`; the pack's replies
    and promises when they give none), else `build_pack_services` (with `kb`, else the pack's
    own knowledge)."""
    from dialogue.domain.pack import DomainPack, default_pack
    from dialogue.policy.reply import Replies

    pack = DomainPack.load(domain) if domain else default_pack()
    if pack.has_code("services"):
        services = pack.code("services")(db=db, kb=kb or code_kb, data=data, asr_model=asr_model, lm=lm, adapter=adapter)  # fmt: skip
        return (
            services
            if services.replies is not None
            else replace(services, replies=Replies.of(pack))
        )
    if data:
        raise ValueError(f"--data: the pack {pack.root} declares its own back office, seeded by itself")  # fmt: skip
    return build_pack_services(pack.root, db, kb, lm, adapter, asr_model)


def load_turn(spec: dict, base: Path) -> CustomerTurn:
    """One scripted or typed turn; paths are relative to the script's folder."""
    from vision.image import load_image
    from voice.audio import load_audio

    audio = load_audio(base / spec["audio"]) if spec.get("audio") else None
    images = spec.get("image") or []
    images = [images] if isinstance(images, str) else images
    return CustomerTurn(
        text=spec.get("text", ""), audio=audio, images=tuple(load_image(base / p) for p in images)
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cca chat", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--db",
        default=None,
        help="back office database (default: the pack's own)",
    )
    p.add_argument(
        "--data",
        "--retail",
        dest="data",
        default=None,
        help="a data folder the pack's own services load into --db first (the sample pack: tau-bench users/orders/products)",
    )
    p.add_argument(
        "--domain",
        default=None,
        help="the domain pack whose agent answers (default: $CCA_DOMAIN, else the sample pack): its back office (--db, else the pack's), intents, policy and knowledge",
    )
    p.add_argument(
        "--kb",
        default=None,
        help=f"knowledge base (the sample pack: {DEFAULT_KB}, if it exists; a declared pack: its knowledge/ indexed)",
    )
    p.add_argument("--script", default=None, help="a JSON list of turns to run")
    p.add_argument("--json", action="store_true", help="print each turn as a JSON object")
    p.add_argument("--audio", default=None, help="a recording for the first turn")
    p.add_argument(
        "--image", action="append", default=[], help="a screenshot for the first turn (repeatable)"
    )
    p.add_argument(
        "--asr-model", default="base", help="Whisper model for audio turns (default base)"
    )
    add_lm_args(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    try:
        lm, adapter = choose(args.lm, args.adapter, args.no_lm)
        # the sample shop's base (cca kb add) when no pack is named; a declared pack's: its own
        shop_kb = None if args.domain else DEFAULT_KB
        services = build_services(args.domain, args.db, args.kb, args.data, lm, adapter, args.asr_model, shop_kb)  # fmt: skip
    except (ImportError, FileNotFoundError, ValueError, RuntimeError, ConnectionError) as e:
        print(f"cca chat: {e}", file=sys.stderr)
        return 2
    agent = Agent(services)
    if args.script:
        path = Path(args.script)
        try:
            specs = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(specs, list):
                raise ValueError("the script must be a JSON list of turns")
        except (OSError, ValueError) as e:
            print(f"cca chat: {path}: {e}", file=sys.stderr)
            return 2
        failed = 0
        for i, spec in enumerate(specs):
            try:
                turn = load_turn(spec, path.parent)
            except (ValueError, OSError, KeyError, TypeError) as e:  # a bad file: say so, go on
                failed += 1
                turn = CustomerTurn(text=spec.get("text", "") if isinstance(spec, dict) else "")
                print(f"cca chat: turn {i}: {e}", file=sys.stderr)
            _show(agent.respond(turn), args.json)
        return 1 if failed else 0
    first = (
        {"text": "", "audio": args.audio, "image": args.image}
        if (args.audio or args.image)
        else None
    )
    if first:
        _show(agent.respond(load_turn(first, Path.cwd())), args.json)
    return _interactive(agent, args.json)


def _interactive(agent: Agent, as_json: bool) -> int:
    pending: dict = {"image": []}
    print(
        "Type to talk; /audio PATH or /image PATH attach to the next turn; /quit to end.",
        file=sys.stderr,
    )
    for line in sys.stdin:
        line = line.strip()
        if line in ("/quit", "/exit"):
            break
        if line.startswith("/audio "):
            pending["audio"] = line.split(" ", 1)[1]
            continue
        if line.startswith("/image "):
            pending["image"].append(line.split(" ", 1)[1])
            continue
        if not line and not (pending.get("audio") or pending["image"]):
            continue
        try:
            turn = load_turn({**pending, "text": line}, Path.cwd())
        except (ValueError, OSError) as e:
            print(f"could not use that file: {e}", file=sys.stderr)
            turn = CustomerTurn(text=line)
        pending = {"image": []}
        _show(agent.respond(turn), as_json)
    return 0


def _show(turn, as_json: bool) -> None:
    if as_json:
        print(json.dumps(turn.to_dict(), ensure_ascii=False), flush=True)
        return

    def said(a) -> str:
        if a.ok:
            return a.tool
        return f"{a.tool} ({'waits for yes' if a.result.get('code') == 'needs_confirmation' else 'refused'})"

    tools = ", ".join(said(a) for a in turn.actions)
    meta = f"[{turn.language} {turn.intent} {turn.confidence:.2f}{' | ' + tools if tools else ''}{' | HANDOFF' if turn.handoff else ''}]"
    if turn.transcript:
        print(f"  (heard: {turn.transcript})")
    print(f"agent: {turn.reply}\n  {meta}", flush=True)
