"""`cca demo`: the web app: talk to the agent by text, voice and screenshots in a browser.

    cca demo [--db URL] [--retail FOLDER] [--kb URL] [--port 7860] [--auth USER:PASSWORD]

With no --db the sample shop lives in a per-user data folder (demo.web.data: --data-dir, else
CCA_DATA_DIR, else $XDG_DATA_HOME/cca/demo), with the trial's conversations, from run to run;
`--reset` restores it. --db names your own back office, whose changes are kept and never reset.
    cca demo --reset          # the sample shop as shipped again, and no trial conversations
    cca demo --check          # build everything, answer one text and one screenshot turn, print JSON

The offline profile (as `cca chat`): the packaged NLU, the back office in SQLite, the knowledge
base if built, Whisper and the screenshot reader loaded on first use, the offline voices for the
spoken reply. It binds 127.0.0.1 unless `--host` is given; public share links are refused. Login:
`--auth user:password` or the environment variable CCA_DEMO_AUTH (same form). Each turn is stored
in the conversation store when `--records URL` or CCA_RECORDS_DB is set (key: CCA_RECORDS_KEY).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from demo.runtime import ENV_RECORDS_DB, Runtime, RuntimeOptions, build_runtime
from demo.web import data
from demo.web.view import DemoLimits, DemoSession, latency_rows, panel_markdown
from dialogue.knowledge.store import store_exists
from dialogue.lm.shipped import add_lm_args, choose

logger = logging.getLogger(__name__)

ENV_AUTH = "CCA_DEMO_AUTH"  # user:password, when --auth is not given
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CHECK_TEXT = "Hello, where is my order?"
CHECK_SCREENSHOT = SAMPLES / "screenshots" / "order-page-en.png"


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not (sep and user and password):
        raise ValueError(
            f"login must be USER:PASSWORD (both non-empty), as in --auth agent:s3cret or {ENV_AUTH}"
        )
    return user, password


def check_turns(domain: str | None) -> tuple[tuple[str, ...], Path | None]:
    """(texts, screenshot) that `--check` sends: the pack's own [check] turns (`--domain`, else
    the default pack), and its screenshot, else the sample's for the sample shop, else none."""
    from dialogue.domain.pack import DomainPack, default_pack

    pack = DomainPack.load(domain) if domain else default_pack()
    return pack.check_turns(), pack.check_screenshot() or (None if domain else CHECK_SCREENSHOT)


def check(runtime: Runtime, limits: DemoLimits, screenshot: Path | None = CHECK_SCREENSHOT,
          texts: tuple[str, ...] = (CHECK_TEXT,)) -> dict:  # fmt: skip
    """The text turns and one screenshot turn (when given) through the page's own handler; the UI
    is built too (not served). Returns a JSON-ready report; `ok`: every turn answered cleanly."""
    from demo.web.ui import build_ui, on_send

    t0 = time.perf_counter()
    build_ui(runtime, limits)
    report: dict = {"ui_build_ms": round((time.perf_counter() - t0) * 1000, 1), "turns": []}
    session = DemoSession(runtime, limits)
    images = [("", str(screenshot))] if screenshot else []
    for text, image in [*((t, None) for t in texts), *images]:
        t0 = time.perf_counter()
        session, _chat, speech, panel, *_ = on_send(session, text, None, image, None, "en", runtime, limits)  # fmt: skip
        view = session.last
        turn = view.turn
        report["turns"].append({
            "text": text, "screenshot": image and Path(image).name,
            "reply": turn.reply if turn else "", "intent": turn.intent if turn else "",
            "screenshots": list(turn.screenshots) if turn else [],
            "speech_s": round(len(speech[1]) / speech[0], 2) if speech else 0.0,
            "latency_ms": dict(latency_rows(view)), "errors": list(turn.errors) if turn else [],
            "problems": [f"{n}: {p}" for n, p in view.refused] + view.store_errors, "panel_chars": len(panel),
            "wall_ms": round((time.perf_counter() - t0) * 1000, 1),
        })  # fmt: skip
    session.end()
    report["voice"] = runtime.speaker.describe() if runtime.speaker is not None else {}
    report["records"] = runtime.store is not None
    report["notes"] = runtime.notes
    report["ok"] = all(
        t["reply"]
        and not t["errors"]
        and not t["problems"]
        and (t["speech_s"] > 0 or not report["voice"])  # fmt: skip
        for t in report["turns"]
    )
    return report


def prepare_trial(args, trial_store: bool) -> tuple:
    """The back office this run uses and what to tell the person starting it: (shop, db URL,
    lines to print). The shop is the data folder's (reset first with --reset), or with --check a
    temporary one, so that a check leaves the data folder as it is; --db is never touched."""
    if args.reset and args.db:
        raise ValueError("--reset restores the sample shop of the data folder; the database of --db is yours and is never reset: leave out --db")  # fmt: skip
    shop_in = (lambda root: data.pack_shop(root, args.domain)) if args.domain else data.sample_shop
    shop = shop_in(data.data_dir(args.data_dir))
    kept = ([] if args.db else [shop.title]) + (["the trial's conversations"] if trial_store else [])  # fmt: skip
    said = [f"{' and '.join(kept)} {'are' if len(kept) > 1 else 'is'} kept in {shop.folder} between runs (--data-dir or {data.ENV_DATA_DIR} to change)"] if kept else []  # fmt: skip
    try:
        if args.reset:
            data.reset(shop)
            said.append(f"--reset: {shop.title} is as shipped again, and the trial's conversations are forgotten")  # fmt: skip
        if args.check:
            shop, said = shop_in(data.temporary_folder()), []
        if not args.db and data.prepare(shop):
            said.append(f"{shop.title} differs from the sample: an earlier trial changed it (a return, a cancellation); `cca demo --reset` restores it")  # fmt: skip
    except OSError as e:
        raise ValueError(f"cannot use the data folder {shop.folder} ({e}); name another with --data-dir DIR or {data.ENV_DATA_DIR}") from e  # fmt: skip
    return shop, args.db or shop.url, said


def build_parser() -> argparse.ArgumentParser:
    d = DemoLimits()
    p = argparse.ArgumentParser(prog="cca demo", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--db", default=None,
        help="your own back office database, whose changes are kept and never reset (default: the sample shop in the data folder)",
    )  # fmt: skip
    p.add_argument("--data-dir", default=None, help=f"where the demo keeps its sample shop and its conversations between runs (default ${data.ENV_DATA_DIR}, else $XDG_DATA_HOME/cca/demo, else ~/.local/share/cca/demo)")  # fmt: skip
    p.add_argument("--reset", action="store_true", help="restore the sample shop (or the --domain pack's back office) in the data folder and forget the trial's conversations, then start; never touches --db or --records")  # fmt: skip
    p.add_argument("--retail", default=None, help="load this retail data folder into --db first")
    p.add_argument("--domain", default=None, help="a domain pack that declares its tools (e.g. domains/bank): its own back office, knowledge, intents and policy instead of the sample shop")  # fmt: skip
    p.add_argument("--kb", default=None, help="knowledge base (default sqlite:///knowledge.db, if it exists; with --domain, the pack's knowledge/ indexed for this run)")  # fmt: skip
    p.add_argument("--asr-model", default="base", help="Whisper model for audio turns (default base)")  # fmt: skip
    add_lm_args(p)
    p.add_argument("--tts", default="offline", help="voice profile: offline, fast, online (default offline)")  # fmt: skip
    p.add_argument("--records", default=None, help="conversation store URL (default $CCA_RECORDS_DB; unset: the trial's store in the data folder, with a Desk key printed at start)")  # fmt: skip
    p.add_argument("--no-records", action="store_true", help="keep no conversations at all (no History or Desk tab)")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")  # fmt: skip
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", default=None, help=f"require a login, USER:PASSWORD (default ${ENV_AUTH})")  # fmt: skip
    p.add_argument("--max-file-mb", type=int, default=d.max_file_mb, help=f"largest upload in MB (default {d.max_file_mb})")  # fmt: skip
    p.add_argument("--max-audio-s", type=float, default=d.max_audio_s, help=f"longest audio turn in seconds (default {d.max_audio_s:g})")  # fmt: skip
    p.add_argument("--max-message-chars", type=int, default=d.max_message_chars, help=f"longest typed message (default {d.max_message_chars})")  # fmt: skip
    p.add_argument("--concurrency", type=int, default=d.concurrency, help=f"turns answered at once (default {d.concurrency})")  # fmt: skip
    p.add_argument("--queue-size", type=int, default=d.queue_size, help=f"turns waiting at most (default {d.queue_size})")  # fmt: skip
    p.add_argument("--live", action="store_true", help="add the live call (streaming microphone through the voice session)")  # fmt: skip
    p.add_argument("--share", action="store_true", help="a public gradio.live link: refused unless --allow-share")  # fmt: skip
    p.add_argument("--allow-share", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--check", action="store_true", help="build everything, answer one text and one screenshot turn on a temporary copy of the sample shop, print JSON, exit")  # fmt: skip
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")  # fmt: skip
    if args.share and not args.allow_share:
        print(
            "cca demo: --share would publish this demo (and the customer data typed into it) on a "
            "public gradio.live link, and needs internet; it is off. Serve it with --host 0.0.0.0 "
            "--auth USER:PASSWORD behind your own HTTPS proxy, or add --allow-share if you mean it",
            file=sys.stderr,
        )  # fmt: skip
        return 2
    try:
        auth = parse_auth(args.auth or os.environ.get(ENV_AUTH))
        limits = DemoLimits(args.max_file_mb, args.max_audio_s, DemoLimits().max_images, args.concurrency, args.queue_size, args.max_message_chars)  # fmt: skip
        if min(limits.max_file_mb, limits.concurrency, limits.queue_size, limits.max_message_chars) < 1 or limits.max_audio_s <= 0:  # fmt: skip
            raise ValueError("--max-file-mb, --max-audio-s, --max-message-chars, --concurrency and --queue-size must be positive")  # fmt: skip
        trial_store = not (args.records or os.environ.get(ENV_RECORDS_DB) or args.no_records)
        shop, db, said = prepare_trial(args, trial_store)
        kb = args.kb or "sqlite:///knowledge.db"
        if args.domain:  # the pack's knowledge, beside its back office unless --kb names one
            kb = args.kb if store_exists(args.kb) else f"sqlite:///{shop.folder / shop.name}_knowledge.db"  # fmt: skip
        store, desk_key = data.trial_records(shop.records) if trial_store else (None, None)
        options = RuntimeOptions(db, kb, args.retail, args.asr_model, *choose(args.lm, args.adapter, args.no_lm), args.tts, args.records, args.domain)  # fmt: skip
        runtime = build_runtime(options, store)
    except (ImportError, FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"cca demo: {e}", file=sys.stderr)
        return 2
    if args.check:
        report = check(runtime, limits, *reversed(check_turns(args.domain)))
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0 if report["ok"] else 1
    if args.host not in ("127.0.0.1", "localhost", "::1") and auth is None:
        logger.warning("cca demo: serving on %s with no login: anyone who reaches it can talk to the back office; add --auth USER:PASSWORD", args.host)  # fmt: skip
    from demo.web.ui import build_ui, launch

    for note in [*said, *runtime.notes]:
        print(f"cca demo: {note}", file=sys.stderr)
    if desk_key is not None:
        print(f"cca demo: sign in to the History and Desk tabs with this key (kept in {shop.records / 'desk.key'}): {desk_key}", file=sys.stderr)  # fmt: skip
    print(f"cca demo: http://{args.host}:{args.port} (Ctrl+C stops)", file=sys.stderr)
    launch(build_ui(runtime, limits, live=args.live), host=args.host, port=args.port, auth=auth,
           limits=limits, share=args.share, metrics=runtime.metrics)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["check", "main", "panel_markdown", "parse_auth"]
