"""`cca privacy eval`: recall and precision of the PII redaction, on a generated set and on
written cases.

The written cases (`privacy_cases.py`) are conversations written apart from the detector, with
agent turns, and values that must stay readable. The generated set is made from a seed (the same seed, the same set): English and Chinese utterances with
card numbers (digits in groups, dashes, spoken words, Chinese digits, and split over two
customer turns), security codes, expiry dates, phones, emails, resident IDs, bank accounts,
addresses and names in many phrasings, and look-alikes that are not personal (order and
tracking numbers, amounts, dates, error codes). Every conversation is run through a
`Redactor`, turn by turn, as the store does.

A gold value is found when a predicted span of its type overlaps it; "hidden" counts it when
every letter and digit of it is inside some span (a "leak" is one that is not). A predicted span is right when it overlaps a gold value of its type. The last check
counts the card numbers still readable in the redacted text (it must be 0).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter

from dialogue.nlu.digits import digit_runs
from dialogue.records.checksums import cn_id_check_char, is_card_number, luhn_ok
from dialogue.records.pii import TYPES, Span
from dialogue.records.privacy_cases import CASES, Utterance, load_cases
from dialogue.records.redactor import Redactor

STRUCTURED = ("CARD", "PHONE", "EMAIL", "CN_ID", "CVV", "EXPIRY")
_EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_ZH = "零一二三四五六七八九"


def _fill(template: str, values: dict[str, tuple[str, str]], language: str) -> Utterance:
    """`template` with "{KEY}" replaced by values[KEY] = (type, text); gold spans follow."""
    out, gold, i = "", [], 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            out += template[i:]
            break
        k = template.index("}", j)
        out += template[i:j]
        kind, value = values[template[j + 1 : k]]
        if kind:
            gold.append(Span(kind, len(out), len(out) + len(value)))
        out += value
        i = k + 1
    return Utterance(out, tuple(gold), language)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def make_card(rng: random.Random) -> str:
    prefix, length = rng.choice(
        [("4", 16), ("4", 16), ("5", 16), ("37", 15), ("62", 16), ("62", 19), ("6011", 16)]
    )
    if prefix == "5":
        prefix = rng.choice(["51", "52", "53", "54", "55"])
    body = prefix + _digits(rng, length - len(prefix) - 1)
    check = next(d for d in "0123456789" if luhn_ok(body + d))
    return body + check


def card_form(rng: random.Random, card: str, language: str) -> str:
    form = rng.choice(["plain", "spaces", "dashes", "spoken"])
    if form == "plain":
        return card
    if form == "spoken":
        return (
            "".join(_ZH[int(d)] for d in card)
            if language == "zh"
            else " ".join(_EN[int(d)] for d in card)
        )
    groups = (
        [card[0:4], card[4:10], card[10:]]
        if len(card) == 15
        else [card[i : i + 4] for i in range(0, len(card), 4)]
    )
    return (" " if form == "spaces" else "-").join(groups)


def make_phone(rng: random.Random, language: str) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), _digits(rng, 4)
    mob = "1" + rng.choice("3456789") + _digits(rng, 9)
    forms = {
        "en": [f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"+1 {a} {b} {c}", f"{a}.{b}.{c}", f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}",
               " ".join(_EN[int(d)] for d in f"{a}{b}{c}")],
        "zh": [mob, f"+86 {mob[:3]} {mob[3:7]} {mob[7:]}", f"{mob[:3]}-{mob[3:7]}-{mob[7:]}", f"010-{_digits(rng, 8)}",
               f"0{rng.randint(20, 29)}-{_digits(rng, 8)}", "".join("幺" if d == "1" else _ZH[int(d)] for d in mob)],
    }  # fmt: skip
    return rng.choice(forms[language])


_FIRST = [
    "Noah",
    "Emma",
    "Liam",
    "Olivia",
    "Mason",
    "Ava",
    "Yusuf",
    "Sofia",
    "Ethan",
    "Mia",
    "Raj",
    "Chloe",
]
_LAST = ["Brown", "Rossi", "Garcia", "Kim", "Nguyen", "Patel", "Silva", "Lopez", "Smith", "Moore"]
_ZH_NAMES = [
    "王小明",
    "李娜",
    "张伟",
    "刘洋",
    "陈静",
    "杨帆",
    "赵磊",
    "黄丽",
    "周杰",
    "吴敏",
    "徐晨",
    "孙悦",
]
_DOMAINS = ["gmail.com", "example.com", "163.com", "qq.com", "outlook.com", "company.co.uk"]
_STREETS = ["Sunset Drive", "Oak Street", "Maple Avenue", "Elm Rd", "Cedar Lane", "Lake Shore Blvd"]
_ZH_ADDR = [
    "北京市朝阳区建国路{n}号",
    "上海市浦东新区世纪大道{n}号",
    "广东省深圳市南山区科技路{n}号3栋",
    "杭州市西湖区文三路{n}号",
]


def make_email(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST).lower()}.{rng.choice(_LAST).lower()}{rng.randint(1, 99)}@{rng.choice(_DOMAINS)}"


def make_cn_id(rng: random.Random) -> str:
    body = rng.choice(["110101", "310104", "440305", "510107", "330106"])
    body += f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{_digits(rng, 3)}"
    return body + cn_id_check_char(body)


def _spoken(rng: random.Random, digits: str, language: str) -> str:
    if rng.random() < 0.6:
        return digits
    return (
        "".join(_ZH[int(d)] for d in digits)
        if language == "zh"
        else " ".join(_EN[int(d)] for d in digits)
    )


def _expiry(rng: random.Random, language: str) -> str:
    m, y = rng.randint(1, 12), rng.randint(25, 32)
    if language == "zh":
        return rng.choice([f"20{y}年{m}月", f"{m:02d}/{y}", f"{m}月/20{y}"])
    return rng.choice(
        [
            f"{m:02d}/{y}",
            f"{m:02d}/20{y}",
            f"{['January', 'March', 'June', 'October'][m % 4]} 20{y}",
            f"{m:02d}-{y}",
        ]
    )


TEMPLATES = {
    "en": [
        ("my card number is {CARD}", "CARD"), ("charge it to {CARD} please", "CARD"),
        ("the card is {CARD}, expires {EXPIRY}, cvv {CVV}", "CARD"),
        ("you can reach me at {PHONE}", "PHONE"), ("my phone number is {PHONE}", "PHONE"), ("call me on {PHONE} after five", "PHONE"),
        ("my email is {EMAIL}", "EMAIL"), ("send it to {EMAIL} thanks", "EMAIL"),
        ("the security code is {CVV}", "CVV"), ("CVV {CVV} and it expires {EXPIRY}", "CVV"),
        ("expiry date {EXPIRY}", "EXPIRY"), ("it's valid thru {EXPIRY}", "EXPIRY"),
        ("my account number is {BANK_ACCOUNT}", "BANK_ACCOUNT"), ("pay it into account number {BANK_ACCOUNT}", "BANK_ACCOUNT"),
        ("I live at {ADDRESS}.", "ADDRESS"), ("please ship to {ADDRESS}", "ADDRESS"),
        ("my name is {NAME} and I have a question", "NAME"), ("hi, this is {NAME} speaking", "NAME"), ("Hello, I'm {NAME}, order is late", "NAME"),
        ("my ID number is {CN_ID}", "CN_ID"),
    ],
    "zh": [
        ("我的卡号是{CARD}", "CARD"), ("银行卡号{CARD}，谢谢", "CARD"), ("用这张信用卡付款 {CARD}", "CARD"),
        ("我的手机号是{PHONE}", "PHONE"), ("电话{PHONE}，有事找我", "PHONE"), ("请打{PHONE}联系我", "PHONE"),
        ("邮箱是{EMAIL}", "EMAIL"), ("发到我邮箱 {EMAIL} 吧", "EMAIL"),
        ("安全码是{CVV}", "CVV"), ("卡背面的三位数字是{CVV}", "CVV"),
        ("有效期至{EXPIRY}", "EXPIRY"), ("有效期{EXPIRY}，安全码{CVV}", "EXPIRY"),
        ("转到我的账号{BANK_ACCOUNT}", "BANK_ACCOUNT"), ("银行账号是 {BANK_ACCOUNT}", "BANK_ACCOUNT"),
        ("我住在{ADDRESS}", "ADDRESS"), ("请寄到{ADDRESS}，谢谢", "ADDRESS"),
        ("我叫{NAME}，想咨询一下", "NAME"), ("你好，我是{NAME}", "NAME"), ("我的名字是{NAME}", "NAME"),
        ("身份证号{CN_ID}", "CN_ID"), ("我的身份证是 {CN_ID} ", "CN_ID"),
    ],
}  # fmt: skip
NEGATIVES = {
    "en": ["Order #W{d7}, tracking number 1Z999AA1{d10}", "it cost ${a}.{c} on 2024-05-{dd}", "error code E{d4} again",
           "item {d10} is out of stock", "I ordered {n} shirts on March {dd}", "my order {d6} has not arrived",
           "tracking SF{d12} says delivered", "I paid ${a} for {n} items", "the page shows error 0x8007{d4}",
           "the package weighs {n} kg and is {a} cm long"],
    "zh": ["工单号 {d5} 还没处理", "单号{d10}，运单号SF{d12}", "一共{a}元，11月{dd}日下单", "错误代码E{d4}",
           "我买了{n}件衣服，花了{a}块钱", "运单号 {d12} 查不到", "商品编号{d8}缺货", "2024年5月{dd}日收到的"],
}  # fmt: skip


def _values(rng: random.Random, language: str) -> dict[str, tuple[str, str]]:
    card = make_card(rng)
    account = _digits(rng, rng.randint(8, 12)) if language == "en" else "62" + _digits(rng, 17)
    while is_card_number(account):
        account = account[:-1] + str((int(account[-1]) + 1) % 10)
    n = rng.randint(1, 999)
    address = (
        f"{n} {rng.choice(_STREETS)}" + rng.choice(["", f", Denver, CO {_digits(rng, 5)}", f", Apt {rng.randint(1, 40)}"])
        if language == "en" else rng.choice(_ZH_ADDR).format(n=n)
    )  # fmt: skip
    name = (
        f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" if language == "en" else rng.choice(_ZH_NAMES)
    )
    if language == "en" and rng.random() < 0.3:
        name = rng.choice(_FIRST)
    return {
        "CARD": ("CARD", card_form(rng, card, language)), "PHONE": ("PHONE", make_phone(rng, language)),
        "EMAIL": ("EMAIL", make_email(rng)), "CVV": ("CVV", _spoken(rng, _digits(rng, rng.choice([3, 3, 4])), language)),
        "EXPIRY": ("EXPIRY", _expiry(rng, language)), "BANK_ACCOUNT": ("BANK_ACCOUNT", account),
        "ADDRESS": ("ADDRESS", address), "NAME": ("NAME", name), "CN_ID": ("CN_ID", make_cn_id(rng)),
    }  # fmt: skip


def _negative(rng: random.Random, language: str) -> Utterance:
    t = rng.choice(NEGATIVES[language])
    fills = {f"d{k}": ("", _digits(rng, k)) for k in (4, 5, 6, 7, 8, 10, 12)}
    fills |= {
        "a": ("", str(rng.randint(2, 999))),
        "c": ("", _digits(rng, 2)),
        "dd": ("", str(rng.randint(10, 28))),
        "n": ("", str(rng.randint(2, 9))),
    }
    return _fill(t, fills, language)


def _split_card(rng: random.Random, language: str) -> list[Utterance]:
    card = make_card(rng)
    cut = rng.choice([4, 8, 12])
    a, b = card[:cut], card[cut:]
    if language == "zh":
        first = _fill("我的卡号是{A}", {"A": ("CARD", a)}, language)
        return [first, _fill("{B}", {"B": ("CARD", b)}, language)]
    spoken = rng.random() < 0.5
    form = (
        (lambda d: " ".join(_EN[int(x)] for x in d))
        if spoken
        else (lambda d: " ".join(d[i : i + 4] for i in range(0, len(d), 4)))
    )
    first = _fill("my card number is {A}", {"A": ("CARD", form(a))}, language)
    return [first, _fill("{B}", {"B": ("CARD", form(b))}, language)]


def generate(n: int = 600, seed: int = 0) -> list[list[Utterance]]:
    """`n` conversations (customer turns only): one-turn utterances with PII, look-alike
    negatives (about a fifth), and card numbers split over two turns (about one in twenty)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        language = "en" if i % 2 == 0 else "zh"
        r = rng.random()
        if r < 0.2:
            out.append([_negative(rng, language)])
        elif r < 0.25:
            out.append(_split_card(rng, language))
        else:
            template, _ = rng.choice(TEMPLATES[language])
            out.append([_fill(template, _values(rng, language), language)])
    return out


def _surviving_cards(text: str) -> int:
    return sum(1 for run in digit_runs(text) for w in run.windows(13, 19) if is_card_number(w[2]))


def _covered(text: str, gold: Span, spans) -> bool:
    """Every letter and digit of the gold value is inside some predicted span."""
    return all(
        any(p.start <= i < p.end for p in spans)
        for i in range(gold.start, gold.end)
        if text[i].isalnum()
    )


def evaluate(conversations: list[list[Utterance]]) -> dict:
    gold, found, hidden, predicted, right = Counter(), Counter(), Counter(), Counter(), Counter()
    misses: list[dict] = []
    cards_in, cards_left, utterances, keep, kept = 0, 0, 0, 0, 0
    for conv in conversations:
        redactor = Redactor()
        for u in conv:
            red = redactor.redact(u.text, role=u.role)
            if u.role != "customer":
                continue
            utterances += 1
            keep += len(u.keep)
            kept += sum(not any(p.start < b and a < p.end for p in red.spans) for a, b in u.keep)
            for g in u.gold:
                gold[g.type] += 1
                same = any(
                    p.type == g.type and p.start < g.end and g.start < p.end for p in red.spans
                )
                found[g.type] += same
                hidden[g.type] += _covered(u.text, g, red.spans)
                if not same and len(misses) < 20:
                    misses.append({"type": g.type, "text": u.text, "redacted": red.text})
            for p in red.spans:
                predicted[p.type] += 1
                right[p.type] += any(
                    g.type == p.type and p.start < g.end and g.start < p.end for g in u.gold
                )
            cards_in += _surviving_cards(u.text)
            cards_left += _surviving_cards(red.text)
    rows = {
        t: {
            "gold": gold[t],
            "found": found[t],
            "recall": found[t] / gold[t] if gold[t] else None,
            "hidden": hidden[t] / gold[t] if gold[t] else None,
            "predicted": predicted[t],
            "precision": right[t] / predicted[t] if predicted[t] else None,
        }  # fmt: skip
        for t in TYPES
        if gold[t] or predicted[t]
    }
    return {
        "conversations": len(conversations), "utterances": utterances, "types": rows,
        "kept": kept, "keep": keep, "whole_cards_in_input": cards_in, "whole_cards_left_after_redaction": cards_left,
        "leaks": sum(gold.values()) - sum(hidden.values()),
        "structured_recall_ok": all(rows[t]["recall"] is None or rows[t]["recall"] >= 0.99 for t in STRUCTURED if t in rows),
        "misses": misses,
    }  # fmt: skip


def format_table(report: dict) -> str:
    f = lambda x: "   -" if x is None else f"{x:.3f}"  # noqa: E731
    lines = [f"{'type':<13} {'gold':>5} {'recall':>7} {'hidden':>7} {'pred':>5} {'precision':>9}"]
    for t, r in report["types"].items():
        lines.append(
            f"{t:<13} {r['gold']:>5} {f(r['recall']):>7} {f(r['hidden']):>7} {r['predicted']:>5} {f(r['precision']):>9}"
        )
    lines.append(f"{report['utterances']} utterances in {report['conversations']} conversations")
    if report["keep"]:
        lines.append(
            f"values that are not personal: {report['kept']} of {report['keep']} left readable"
        )
    lines.append(
        f"card numbers: {report['whole_cards_in_input']} in the input, {report['whole_cards_left_after_redaction']} left after redaction"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cca privacy eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--set", choices=("both", "generated", "written"), default="both",
                   help="the generated set, the written cases (privacy_cases.jsonl), or both")  # fmt: skip
    p.add_argument("--cases", default=str(CASES), help="a written case file (JSONL)")
    p.add_argument("--n", type=int, default=600, help="conversations to generate (default 600)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--misses", action="store_true", help="also print up to 20 missed values")
    args = p.parse_args(argv)
    reports = {}
    if args.set in ("both", "generated"):
        reports["generated"] = evaluate(generate(args.n, args.seed))
    if args.set in ("both", "written"):
        try:
            reports["written"] = evaluate(load_cases(args.cases))
        except (OSError, ValueError, KeyError) as e:
            print(f"cca privacy eval: cannot read the cases: {e}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(reports if len(reports) > 1 else next(iter(reports.values())), ensure_ascii=False, indent=2))  # fmt: skip
    for name, report in reports.items() if not args.json else ():
        print(f"== {name} set\n{format_table(report)}")
        for m in report["misses"] if args.misses else []:
            print(f"  missed {m['type']}: {m['text']!r} -> {m['redacted']!r}")
    ok = all(
        r["structured_recall_ok"] and r["whole_cards_left_after_redaction"] == 0
        for r in reports.values()
    )
    if "written" in reports:
        w = reports["written"]
        ok = ok and w["leaks"] == 0 and w["kept"] == w["keep"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
