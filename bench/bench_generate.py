"""Reply generation speed: the llama.cpp engine and our DialogueLM decoding loop against plain
Hugging Face `model.generate`, the same model, side by side.

    .venv/bin/python bench/bench_generate.py [--model packaged:gemma-3-270m] [--device cpu|cuda]
        [--max-new-tokens 64] [--repeat 3] [--quick] [--no-llama-cpp]

- Single replies: the same English and Chinese customer-service prompts, rendered with the
  model's chat template, the same model, device and dtype, greedy, the same max_new_tokens and
  stop tokens. Systems: `hf-generate` (the baseline: `model.generate(do_sample=False)`, its
  first token timed with a streamer), `cca-stream` (iterating `DialogueLM.stream`, the
  transformers loop), `cca-generate` (`DialogueLM.generate`) and `llama.cpp-stream`
  (`LlamaCppGenerator.stream` on the GGUF file itself: Q4_K_M weights, where the others run the
  weights dequantized, so its greedy text may differ). Time to first token (TTFT), decode tokens/s after the
  first token, whole-reply time; the best of --repeat rounds after one warm-up each. "same text"
  counts replies identical to the baseline's.
- KV-cache reuse: a five-turn conversation per language, each prompt holding the history so
  far; one `Conversation` kept across the turns (only the new tokens are encoded) against a
  fresh encode every turn. Prefill tokens and wall time, summed over the turns. The same for
  llama.cpp: the tokens it already evaluated kept, against a reset before every turn.

Prints the tables and writes bench/out/generate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialogue.lm.decoding import GenerationOptions  # noqa: E402
from dialogue.lm.llama_cpp import LlamaCppGenerator  # noqa: E402
from dialogue.lm.model import DialogueLM  # noqa: E402

OUT = ROOT / "bench" / "out"
SYSTEM = {
    "en": "You are the customer service agent of Northwind Retail. Be brief, warm and exact. Reply in English.",
    "zh": "你是北风零售的客服。回答要简短、亲切、准确。请用简体中文回答。",
}
PROMPTS = {
    "en": [
        "Hi, my order W2611 was supposed to arrive on Monday and it still hasn't come. Can you check where it is?",
        "I was charged twice for the same blender, 49.99 each time. I'd like one of the charges refunded please.",
    ],
    "zh": [
        "您好，我的订单W2611本来周一就该到了，到现在还没收到，能帮我查一下吗？",
        "同一个搅拌机我被扣了两次钱，每次49.99元，请帮我退掉其中一笔。",
    ],
}
TURNS = {
    "en": [
        "Hello, I need help with an order.",
        "The order number is W2611, placed on the 3rd of March.",
        "It says delivered but I never got it.",
        "Can you send a replacement instead of a refund?",
        "Thanks. Will I get an email confirmation?",
    ],
    "zh": [
        "你好，我的订单有点问题。",
        "订单号是W2611，三月三号下的单。",
        "显示已经签收了，但是我没有收到。",
        "可以给我补发一个吗？不用退款。",
        "谢谢。我会收到确认邮件吗？",
    ],
}


def cpu_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPUs busy over the next `seconds` (Linux /proc/stat)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return ticks[3] + ticks[4], sum(ticks)  # idle + iowait, total

    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except OSError:
        return 0.0
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def render(lm: DialogueLM, lang: str, turns: list[tuple[str, str]]) -> str:
    messages = [{"role": "system", "content": SYSTEM[lang]}]
    messages += [{"role": r, "content": c} for r, c in turns]
    return lm.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_hf(lm: DialogueLM, prompt: str, n: int) -> dict:
    from transformers.generation.streamers import BaseStreamer

    class FirstToken(BaseStreamer):
        def __init__(self):
            self.puts, self.at = 0, None

        def put(self, value):  # the prompt first, then each new token
            self.puts += 1
            if self.puts == 2:
                sync(lm.device)
                self.at = time.perf_counter()

        def end(self):
            pass

    ids = torch.tensor([lm.encode(prompt)], device=lm.device)
    streamer = FirstToken()
    stops = sorted(lm.stop_ids)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = lm.model.generate(
            ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=n,
            eos_token_id=stops, pad_token_id=stops[0], streamer=streamer,
        )  # fmt: skip
    sync(lm.device)
    total = time.perf_counter() - t0
    new = out[0, ids.shape[1] :].tolist()
    text = lm.tokenizer.decode([t for t in new if t not in lm.stop_ids], skip_special_tokens=True)
    return timing(text, len(new), (streamer.at or t0 + total) - t0, total)


def run_ours(lm: DialogueLM, prompt: str, n: int, streaming: bool) -> dict:
    conv = lm.new_conversation()
    options = GenerationOptions(max_new_tokens=n)
    t0 = time.perf_counter()
    if streaming:
        first, pieces = None, []
        for piece in lm.stream(prompt, options, conv):
            first = first or time.perf_counter()
            pieces.append(piece)
        text = "".join(pieces)
    else:
        text = lm.generate(prompt, options, conv)
    sync(lm.device)
    total = time.perf_counter() - t0
    ttft = (first - t0) if streaming and first else conv.last.first_token_s
    return timing(text, conv.last.new_tokens, ttft, total)


def timing(text: str, new: int, ttft: float, total: float) -> dict:
    rate = (new - 1) / (total - ttft) if new > 1 and total > ttft else float("nan")
    return {"text": text, "new_tokens": new, "ttft_s": ttft, "total_s": total, "decode_tok_s": rate}


def run_llama(gen: LlamaCppGenerator, prompt: str, n: int) -> dict:
    gen.options = GenerationOptions(max_new_tokens=n)
    gen.llm.reset()  # a single reply: nothing cached
    t0 = time.perf_counter()
    first, pieces = None, []
    for piece in gen.stream(prompt):
        first = first or time.perf_counter()
        pieces.append(piece)
    total = time.perf_counter() - t0
    return timing("".join(pieces), gen.last.new_tokens, (first or t0 + total) - t0, total)


SYSTEMS = {
    "hf-generate": lambda lm, p, n: run_hf(lm, p, n),
    "cca-stream": lambda lm, p, n: run_ours(lm, p, n, streaming=True),
    "cca-generate": lambda lm, p, n: run_ours(lm, p, n, streaming=False),
}
LLAMA: list[LlamaCppGenerator] = []  # the llama.cpp engine, when loaded


def single_replies(lm: DialogueLM, prompts: dict, n: int, repeat: int) -> list[dict]:
    """Each system once to warm up, then `repeat` rounds with the systems in turn (so a busy
    spell on the machine falls on all of them alike); the best of the rounds, as timeit does
    (on a shared machine noise only ever adds time)."""
    rows = []
    for lang, texts in prompts.items():
        for i, text in enumerate(texts):
            prompt = render(lm, lang, [("user", text)])
            systems = dict(SYSTEMS)
            if LLAMA:
                systems["llama.cpp-stream"] = lambda _lm, p, n: run_llama(LLAMA[0], p, n)
            runs: dict[str, list[dict]] = {name: [] for name in systems}
            for fn in systems.values():
                fn(lm, prompt, n)  # warm-up
            for _ in range(repeat):
                for name, fn in systems.items():
                    runs[name].append(fn(lm, prompt, n))
            for name, rs in runs.items():
                med = {k: min(r[k] for r in rs) for k in ("ttft_s", "total_s")}
                med["decode_tok_s"] = max(r["decode_tok_s"] for r in rs)
                rows.append({
                    "lang": lang, "prompt": i, "system": name, "prompt_tokens": len(lm.encode(prompt)),
                    "new_tokens": rs[0]["new_tokens"], "text": rs[0]["text"], **med,
                })  # fmt: skip
                print(f"  {lang}#{i} {name:13s} ttft {med['ttft_s'] * 1000:7.1f} ms  {med['decode_tok_s']:6.1f} tok/s  {rs[0]['new_tokens']} tokens")  # fmt: skip
    return rows


class _Transformers:
    """One engine's turn for `conversation`: (reply, prompt tokens, reused tokens, TTFT s)."""

    def __init__(self, lm: DialogueLM, n: int):
        self.lm, self.options, self.conv = lm, GenerationOptions(max_new_tokens=n), None

    def forget(self) -> None:
        self.conv = self.lm.new_conversation()

    def turn(self, prompt: str) -> tuple[str, int, int, float]:
        reply = self.lm.generate(prompt, self.options, self.conv)
        last = self.conv.last
        return reply, last.prompt_tokens, last.reused_tokens, last.first_token_s


class _LlamaCpp:
    def __init__(self, gen: LlamaCppGenerator, n: int):
        self.gen = gen
        gen.options = GenerationOptions(max_new_tokens=n)

    def forget(self) -> None:
        self.gen.llm.reset()

    def turn(self, prompt: str) -> tuple[str, int, int, float]:
        reply, last = self.gen.generate(prompt), self.gen.last
        return reply, last.prompt_tokens, last.reused_tokens, last.first_token_s or last.total_s


def conversation(engine, lm: DialogueLM, lang: str, reuse: bool) -> dict:
    """Five turns, each prompt holding the history; `reuse`: the engine keeps its cache."""
    engine.forget()
    history: list[tuple[str, str]] = []
    prefill = prompt_tokens = 0
    replies, ttfts, t0 = [], [], time.perf_counter()
    for user in TURNS[lang]:
        history.append(("user", user))
        if not reuse:
            engine.forget()
        reply, n_prompt, reused, ttft = engine.turn(render(lm, lang, history))
        prompt_tokens += n_prompt
        prefill += n_prompt - reused
        ttfts.append(ttft)
        history.append(("assistant", reply))
        replies.append(reply)
    sync(lm.device)
    wall = time.perf_counter() - t0
    return {
        "prompt_tokens": prompt_tokens, "prefill_tokens": prefill, "wall_s": wall,
        "mean_ttft_s": statistics.mean(ttfts), "replies": replies,
    }  # fmt: skip


def conversations(lm: DialogueLM, n: int, repeat: int) -> dict:
    """Per language, fresh and reuse in turn `repeat` times; the best wall time of each."""
    out = {}
    for lang in TURNS:
        runs = {"fresh": [], "reuse": []}
        for _ in range(repeat):
            for mode in runs:
                runs[mode].append(conversation(_Transformers(lm, n), lm, lang, mode == "reuse"))
        if LLAMA:
            for mode in ("fresh", "reuse"):
                runs[f"llama.cpp-{mode}"] = [
                    conversation(_LlamaCpp(LLAMA[0], n), lm, lang, mode == "reuse")
                    for _ in range(repeat)
                ]
        out[lang] = {mode: min(rs, key=lambda r: r["wall_s"]) for mode, rs in runs.items()}
        f, r = out[lang]["fresh"], out[lang]["reuse"]
        out[lang]["same_replies"] = sum(a == b for a, b in zip(f["replies"], r["replies"], strict=True))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--model", default="packaged:gemma-3-270m")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument(
        "--turn-tokens", type=int, default=32, help="max_new_tokens per conversation turn"
    )
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="one prompt per language, one run")
    p.add_argument("--no-llama-cpp", action="store_true", help="leave the llama.cpp engine out")
    p.add_argument("--out", type=Path, default=OUT / "generate.json")
    args = p.parse_args(argv)
    prompts = {k: v[:1] for k, v in PROMPTS.items()} if args.quick else PROMPTS
    repeat = 1 if args.quick else args.repeat

    t0 = time.perf_counter()
    lm = DialogueLM.from_pretrained(args.model, device=args.device)
    load_s = time.perf_counter() - t0
    dtype = str(next(lm.model.parameters()).dtype).removeprefix("torch.")
    print(f"model {args.model} on {lm.device} ({dtype}), loaded in {load_s:.1f} s; cpu cores {os.cpu_count()}, torch threads {torch.get_num_threads()}")  # fmt: skip

    if not args.no_llama_cpp:
        t0 = time.perf_counter()
        LLAMA.append(LlamaCppGenerator.from_pretrained(args.model))
        print(f"llama.cpp engine {LLAMA[0].name} loaded in {time.perf_counter() - t0:.1f} s")

    busy = cpu_busy()
    if busy > 0.2:
        print(f"warning: the CPUs were {busy:.0%} busy before the run; something else is running and the times will be too long")  # fmt: skip
    rows = single_replies(lm, prompts, args.max_new_tokens, repeat)
    summary = {}
    for name in dict.fromkeys(r["system"] for r in rows):
        mine = [r for r in rows if r["system"] == name]
        base = {(r["lang"], r["prompt"]): r for r in rows if r["system"] == "hf-generate"}
        summary[name] = {
            "ttft_ms": 1000 * statistics.median(r["ttft_s"] for r in mine),
            "decode_tok_s": statistics.median(r["decode_tok_s"] for r in mine),
            "total_s": sum(r["total_s"] for r in mine),
            "same_text": sum(r["text"] == base[r["lang"], r["prompt"]]["text"] for r in mine),
            "replies": len(mine),
        }
    b, ours = summary["hf-generate"], summary["cca-stream"]
    print(f"\nsingle replies (greedy, max_new_tokens={args.max_new_tokens}, best of {repeat}, median over prompts); baselines: hf-generate, and cca-stream (the transformers loop)")  # fmt: skip
    print("| system | TTFT ms | vs hf-generate | decode tok/s | vs hf-generate | vs cca-stream | total s | same text as hf-generate |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in summary.items():
        print(
            f"| {name} | {s['ttft_ms']:.0f} | {s['ttft_ms'] / b['ttft_ms']:.2f}x | {s['decode_tok_s']:.1f} | "
            f"{s['decode_tok_s'] / b['decode_tok_s']:.2f}x | {s['decode_tok_s'] / ours['decode_tok_s']:.2f}x | "
            f"{s['total_s']:.1f} | {s['same_text']}/{s['replies']} |"
        )

    conv = conversations(lm, args.turn_tokens, repeat)
    print(f"\nfive-turn conversations (max_new_tokens={args.turn_tokens} per turn, best of {repeat}): KV cache kept vs a fresh encode each turn")  # fmt: skip
    print("| lang, engine | prompt tokens | prefilled fresh | prefilled reuse | mean TTFT ms fresh | reuse | wall s fresh | reuse | speed-up | same replies |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for lang, c in conv.items():
        for engine, (f, r) in {
            "transformers": (c["fresh"], c["reuse"]),
            "llama.cpp": (c.get("llama.cpp-fresh"), c.get("llama.cpp-reuse")),
        }.items():
            if f is None:
                continue
            same = sum(a == b for a, b in zip(f["replies"], r["replies"], strict=True))
            print(
                f"| {lang} {engine} | {f['prompt_tokens']} | {f['prefill_tokens']} | {r['prefill_tokens']} | "
                f"{f['mean_ttft_s'] * 1000:.0f} | {r['mean_ttft_s'] * 1000:.0f} | {f['wall_s']:.2f} | "
                f"{r['wall_s']:.2f} | {f['wall_s'] / r['wall_s']:.2f}x | {same}/{len(f['replies'])} |"
            )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "model": args.model, "device": str(lm.device), "dtype": dtype, "cpu_cores": os.cpu_count(),
        "load_s": load_s, "cpu_busy_before": round(busy, 2), "max_new_tokens": args.max_new_tokens, "turn_tokens": args.turn_tokens,
        "repeat": repeat, "baseline": "hf-generate", "summary": summary, "replies": rows,
        "conversations": conv,
    }  # fmt: skip
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
