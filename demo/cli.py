"""`cca`: one command line; each subcommand is a `main(argv)` in the module that owns the work."""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module, one-line help). Imported only when run, so `cca --help` stays fast.
HEARS_CUSTOMERS = ("demo", "phone", "chat")  # every log line of these is redacted first

COMMANDS = {
    "transcribe": (
        "voice.asr.transcribe",
        "transcribe audio files and folders (txt, srt, vtt, json)",
    ),
    "say": (
        "voice.tts.say",
        "text to speech into a WAV file, English or Chinese (--voice, --rate, --list-voices)",
    ),
    "demo": (
        "demo.web.app",
        "the web app: chat by text, voice and screenshots, with what the agent understood and did (--check)",
    ),
    "phone": (
        "demo.phone.serve",
        "the phone line: a Twilio Media Streams bridge (webhook, media stream, screenshot uploads)",
    ),
    "asr-serve": (
        "demo.asr_server",
        "one Whisper for every worker of a phone line, batching their callers' turns (HTTP)",
    ),
    "phone-sim": (
        "demo.phone.sim",
        "call the phone bridge as Twilio would: stream a WAV, send DTMF, N callers; latency JSON",
    ),
    "see": ("vision.see", "read screenshots: text, fields, kind, language (--json)"),
    "backoffice": (
        "domains.retail.backoffice",
        "the retail back office: load users/orders/products into SQLite or PostgreSQL; show an order",
    ),
    "chat": (
        "dialogue.chat",
        "talk to the agent in a terminal, or run a scripted conversation (--script, --json)",
    ),
    "eval": (
        "dialogue.evals.cli",
        "evaluate: `cca eval conversations` (the agent on scripted conversations), `cca eval dialogue` (the model), `cca eval injection` (prompt-injection attempts)",
    ),
    "nlu": (
        "dialogue.nlu.understand",
        "intent, entities and sentiment of a turn, English or Chinese (--json, --domain DIR); train/eval the intent model",
    ),
    "privacy": (
        "dialogue.records.cli",
        "records: eval (redaction recall/precision), erase, retention, rotate-key, new-key, export (training JSONL)",
    ),
    "export-training-data": (
        "dialogue.records.export_cli",
        "consented, redacted stored conversations as dialogue JSONL for `cca train`",
    ),
    "convdata": (
        "dialogue.lm.converters",
        "training conversations for the dialogue model: build (STC-3, ABCD, generated retail; redacted; train/dev/test), stats",
    ),
    "train": (
        "dialogue.lm.train_cli",
        "fine-tune the dialogue model from a TOML recipe (LoRA or full)",
    ),
    "lm": (
        "dialogue.lm.cli",
        "the shipped dialogue model: info (base, data, dev loss, size; whether it runs here), ship (a trained adapter into the package), retrain (records -> train -> compare -> promote)",
    ),
    "kb": (
        "dialogue.knowledge.base",
        "the knowledge base: add Markdown/JSON/CSV files and folders (--domain DIR); search (--json)",
    ),
    "domain": (
        "dialogue.domain.cli",
        "domain packs: new (a starter pack folder), check (problems with file and line)",
    ),
}


def usage() -> str:
    lines = ["usage: cca COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `cca COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name in HEARS_CUSTOMERS:  # their log lines may quote what a customer said
        from dialogue.records.redactor import redact_all_logging

        redact_all_logging()
    if name not in COMMANDS:
        print(
            f"cca: unknown command {name!r}; available commands = {list(COMMANDS)}", file=sys.stderr
        )
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
