"""The pages vision.synth draws: the `Page` canvas, one builder per kind, the fields they plant."""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

logger = logging.getLogger(__name__)

MIN_SIZE = 14  # px: the smallest text drawn
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ACCENTS = ((37, 99, 235), (22, 163, 74), (220, 38, 38), (234, 88, 12), (124, 58, 237),
            (13, 148, 136), (219, 39, 119), (30, 64, 175), (255, 80, 0), (7, 160, 90))  # fmt: skip
_INK = ((17, 24, 39), (33, 33, 33), (51, 51, 51), (30, 41, 59))
_GREY = ((107, 114, 128), (140, 140, 140), (120, 124, 130), (150, 155, 160))


@lru_cache(maxsize=256)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


class Page:
    """Draw calls recorded top to bottom, then replayed on a canvas whose height fits the content.
    Text calls are the ground-truth lines in call order: builders call them in reading order."""

    def __init__(self, width: int, bg: tuple, fonts: tuple[str, str], rng: random.Random):
        self.w, self.bg, self.fonts, self.m = width, bg, fonts, max(16, width // 25)
        self.accent, self.ink, self.grey = (rng.choice(c) for c in (_ACCENTS, _INK, _GREY))
        self.size = rng.randint(15, 17)  # body text, px
        self.ops: list[tuple[str, tuple, dict]] = []
        self.lines: list[str] = []
        self.fields: dict[str, list[str]] = {}
        self.bottom = 0

    def font(self, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
        return _font(self.fonts[bold], size)

    def shape(self, method: str, box: Sequence[float], at: int | None = None, **kw) -> None:
        """A Pillow ImageDraw call on `box`; `at` puts it under what is drawn already."""
        self.ops.insert(len(self.ops) if at is None else at, (method, tuple(map(int, box)), kw))
        self.bottom = max(self.bottom, int(box[3]))

    def rect(self, box: Sequence[float], r: int = 0, at: int | None = None, **kw) -> None:
        """A rectangle, with corners of radius r when r > 0."""
        kw = {"radius": r, **kw} if r else kw
        self.shape("rounded_rectangle" if r else "rectangle", box, at, **kw)

    def fit(self, text: str, size: int, max_w: float, bold: bool = False) -> tuple[str, int]:
        """(text, size): shrink to MIN_SIZE, then cut characters, until text fits in max_w."""
        size = max(MIN_SIZE, size)
        while self.font(size, bold).getlength(text) > max_w and size > MIN_SIZE:
            size -= 1
        cut = text
        while self.font(size, bold).getlength(cut) > max_w and len(cut) > 1:
            cut = cut[:-1].rstrip()
        if cut != text:
            logger.warning(
                "cut %r to %r: %d px is too narrow at %d px text", text, cut, max_w, size
            )
        return cut, size

    def text(self, x, y, s, size=0, fill=None, *, bold=False, anchor="ls", max_w=None, plant=()):
        """One line at (x, y) by `anchor`, fitted into max_w and the canvas. `plant` holds
        (kind, as written, value): a field is recorded when what is written survived fitting."""
        room = {"l": self.w - x, "r": x, "m": 2 * min(x, self.w - x)}[anchor[0]] - self.m // 2
        s, size = self.fit(s, size or self.size, min(room, max_w or room), bold)
        xy, font = (int(x), int(y)), self.font(size, bold)
        self.ops.append(("text", xy, dict(text=s, font=font, fill=fill or self.ink, anchor=anchor)))
        self.lines.append(s)
        self.bottom = max(self.bottom, int(y + size * (0.3 if anchor[1] == "s" else 0.7)))
        for kind, written, value in plant:
            if written in s and value not in self.fields.setdefault(kind, []):
                self.fields[kind].append(value)

    def button(self, x, y, label, fill, ink, outline=None, right=False) -> int:
        """A 38 px high button, its label centred; x is its left (right) edge. Returns its width."""
        w = self.button_width(label)
        x0 = x - w if right else x
        self.rect((x0, y, x0 + w, y + 38), 6, fill=fill, outline=outline)
        self.text(x0 + w / 2, y + 19, label, 15, ink, anchor="mm", max_w=w)
        return w

    def button_width(self, label: str) -> int:
        return int(self.font(15).getlength(label)) + 32

    def render(self, bottom_margin: int) -> np.ndarray:
        img = PILImage.new("RGB", (self.w, self.bottom + bottom_margin), self.bg)
        draw = ImageDraw.Draw(img)
        for method, args, kw in self.ops:
            draw.text(args, **kw) if method == "text" else getattr(draw, method)(args, **kw)
        return np.asarray(img, dtype=np.uint8).copy()


def _date(rng: random.Random, lang: str) -> tuple[str, str, str]:
    """("date", as written, ISO) for a day in 2025-2026."""
    d = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(730))
    if lang == "zh":
        forms = (f"{d.year}年{d.month}月{d.day}日", f"{d.year}/{d.month:02d}/{d.day:02d}")
    else:
        mon = _MONTHS[d.month - 1]
        forms = (f"{mon} {d.day}, {d.year}", f"{d.day} {mon} {d.year}")
    return "date", rng.choice((*forms, d.isoformat())), d.isoformat()


def plant_fields(rng: random.Random, lang: str, v: dict) -> dict[str, tuple[str, str, str]]:
    """One value of each field for a page, from its words `v`: name -> (kind, as written,
    normalised value)."""
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    name, handle = rng.choice(v["customers"])
    email = f"{handle}{rng.choice(('', str(rng.randint(1, 99))))}@{rng.choice(v['domains'])}"
    if lang == "en":
        a, n = rng.choice((415, 212, 646, 312, 206, 512)), rng.randint(100, 199)  # 555-01xx
        phone = rng.choice((f"+1 ({a}) 555-0{n}", f"+1 {a}-555-0{n}", f"+1 {a} 555 0{n}"))
        e164 = f"+1{a}5550{n}"
    else:
        p, a, b = rng.choice(("138", "139", "186", "150", "177", "135")), digits(4), digits(4)
        phone = rng.choice((f"+86 {p} {a} {b}", f"+86 {p}-{a}-{b}", f"+86 {p}{a}{b}"))
        e164 = f"+86{p}{a}{b}"
    carrier, prefix, n = rng.choice(v["carriers"])
    shipper = "".join(rng.choice("0123456789ABCDEFHJKLMNPRSTVWXY") for _ in range(6))  # UPS
    tracking = prefix + (shipper + digits(n - 6) if prefix == "1Z" else digits(n))
    order, code = f"ORD-{rng.randint(10000, 999999)}", f"E-{rng.randint(1000, 9999)}"
    if rng.random() < 0.5:
        code = f"0x{rng.choice(('8007', '800F', '8004', 'C004'))}{rng.randrange(16**4):04X}"
    return dict(name=("", name, ""), email=("email", email, email), phone=("phone", phone, e164),
                order=("order_number", order, order), code=("error_code", code, code),
                tracking=("tracking_number", tracking, tracking), date=_date(rng, lang),
                carrier=("", carrier, ""))  # fmt: skip


def _money(cents: int, lang: str, style: int) -> tuple[str, str, str]:
    """("amount", as written, normalised): style 0 or 1 picks $ / € in English, ¥ / 元 in Chinese."""
    amount = f"{cents // 100}.{cents % 100:02d}"
    forms = (("USD", "${}"), ("EUR", "€{}"), ("CNY", "¥{}"), ("CNY", "{}元"))
    code, form = forms[style + 2 * (lang == "zh")]
    return "amount", form.format(amount), f"{amount} {code}"


def _error_dialog(p: Page, rng: random.Random, lang: str, v, lab, f, body) -> int:
    x0, y0 = rng.randint(p.w // 40, p.w // (8 if p.w >= 640 else 24)), rng.randint(30, 70)
    x1, pad, th, mark = p.w - x0, rng.randint(20, 28), rng.randint(32, 38), len(p.ops)
    mac, cy = rng.random() < 0.5, y0 + th // 2  # window buttons on the left (macOS) or the right
    for i, colour in enumerate(((255, 95, 87), (254, 188, 46), (40, 200, 64))):
        cx = x0 + 18 + 20 * i if mac else x1 - 18 - 20 * i
        p.shape("ellipse", (cx - 6, cy - 6, cx + 6, cy + 6), fill=colour if mac else (180,) * 3)
    p.text((x0 + x1) / 2, cy, rng.choice(v["apps"]), 14, p.grey, anchor="mm", max_w=x1 - x0 - 160)
    r, y = rng.randint(20, 26), y0 + th + pad
    icon = (x0 + pad, y, x0 + pad + 2 * r, y + 2 * r)  # a no-entry sign: no glyph for OCR to read
    p.shape("ellipse", icon, fill=rng.choice(((220, 38, 38), (234, 88, 12), (217, 119, 6))))
    p.shape("rectangle", (icon[0] + r // 2, y + r - 3, icon[2] - r // 2, y + r + 3), fill="white")
    tx, ts, (title, message) = icon[2] + pad, rng.randint(20, 26), rng.choice(v["errors"])
    p.text(tx, y + ts, title, ts, bold=True, max_w=x1 - pad - tx)
    y += ts + 12
    for line in body or message:
        y += int(p.size * 1.55)
        p.text(tx, y, line, max_w=x1 - pad - tx)
    if rng.random() < 0.4:
        clock, y = f"{rng.randint(0, 23):02d}:{rng.randint(10, 59)}:{rng.randint(10, 59)}", y + 27
        p.text(tx, y, lab["when"].format(f["date"][2], clock), 14, p.grey, plant=[f["date"]])
    y += 27
    p.text(tx, y, rng.choice(lab["code"]).format(f["code"][1]), 14, p.grey, plant=[f["code"]])
    (ok, cancel), y = rng.choice(v["buttons"]), y + pad
    x = x1 - pad - p.button_width(ok)
    p.button(x - 12, y, cancel, (243, 244, 246), p.ink, outline=(209, 213, 219), right=True)
    p.button(x, y, ok, p.accent, "white")
    y1, shadow = y + 38 + pad, tuple(int(c * 0.6) for c in p.bg)
    p.shape("rounded_rectangle", (x0 + 3, y0 + 5, x1 + 3, y1 + 5), at=mark, radius=8, fill=shadow)
    p.shape("rounded_rectangle", (x0, y0, x1, y1), at=mark + 1, radius=8, fill="white")
    p.shape("rounded_rectangle", (x0, y0, x1, y0 + th), at=mark + 2, radius=8, fill=(236, 236, 240),
            corners=(True, True, False, False))  # fmt: skip
    return y0


def _order_page(p: Page, rng: random.Random, lang: str, v, lab, f, body) -> int:
    m, hh, style, size = p.m, rng.randint(52, 64), rng.randrange(2), p.size
    p.shape("rectangle", (0, 0, p.w, hh), fill=p.accent)
    p.text(m, hh / 2, rng.choice(v["shops"]), rng.randint(20, 24), "white", bold=True, anchor="lm",
           max_w=p.w * 0.6)  # fmt: skip
    p.text(p.w - m, hh / 2, lab["orders"], 15, "white", anchor="rm", max_w=p.w * 0.3)
    y, ts, status = hh + 24 + rng.randint(18, 26), rng.randint(20, 26), rng.choice(v["statuses"])
    bw, tint = p.font(14).getlength(status) + 24, tuple(c + (255 - c) * 17 // 20 for c in p.accent)
    p.text(m, y, lab["details"], ts, bold=True, max_w=p.w - 2 * m - bw - 16)
    p.shape("rounded_rectangle", (p.w - m - bw, y - ts, p.w - m, y - ts + 28), radius=14, fill=tint)
    p.text(p.w - m - bw / 2, y - ts + 14, status, 14, p.accent, anchor="mm")
    y += int(size * 2.0)
    p.text(m, y, rng.choice(lab["order"]).format(f["order"][1]), plant=[f["order"]])
    y += int(size * 1.6)
    p.text(m, y, lab["placed"].format(f["date"][1]), size - 1, p.grey, plant=[f["date"]])
    top, mark, pad = y + 22, len(p.ops), 16
    px, y = p.w - m - pad, top + 34
    qx = min(p.w * 0.66, px - p.font(size).getlength("888.88元") - 24)  # the quantity column
    for x, head, anchor in zip((m + pad, qx, px), lab["cols"], ("ls", "ms", "rs"), strict=True):
        p.text(x, y, head, 14, p.grey, anchor=anchor)
    subtotal, y = 0, y + 8
    for name, price in rng.sample(v["products"], rng.randint(2, 4)):
        q, y = rng.choice((1, 1, 1, 2)), y + int(size * 2.1)
        p.text(m + pad, y, name, max_w=qx - m - pad - 40)
        p.text(qx, y, f"×{q}" if lang == "zh" else str(q), anchor="ms")
        p.text(px, y, (amount := _money(price * q, lang, style))[1], anchor="rs", plant=[amount])
        subtotal += price * q
    p.shape("rectangle", (m + pad, y + 14, px, y + 14), fill=(225, 228, 232))
    fee, y = rng.choice((0, 0, 499, 800) if lang == "en" else (0, 0, 1000, 1200)), y + 14
    for label, cents in ((lab["subtotal"], subtotal), (lab["fee"], fee)):
        amount = _money(cents, lang, style) if cents else ("", lab["free"], "")
        y += int(size * 1.7)
        p.text(m + pad, y, label, size, p.grey)
        p.text(px, y, amount[1], anchor="rs", plant=[amount] if cents else ())
    total, y = _money(subtotal + fee, lang, style), y + int(size * 2.2)
    p.text(m + pad, y, lab["total"], size + 2, bold=True)
    p.text(px, y, total[1], size + 2, p.accent, bold=True, anchor="rs", plant=[total])
    card = (249, 250, 251) if p.bg == (255, 255, 255) else (255, 255, 255)
    p.shape("rounded_rectangle", (m, top, px + pad, y + 18), at=mark, radius=10, fill=card,
            outline=(229, 231, 235))  # fmt: skip
    y += 18
    for j, line in enumerate((lab["note"], *body) if body else ()):
        y += 40 if j == 0 else int(size * 1.6)
        p.text(m, y, line, bold=j == 0)
    y += 44
    p.text(m, y, lab["ship_to"], size + 1, bold=True)
    y += int(size * 1.8)
    p.text(m, y, f"{f['name'][1]} {f['phone'][1]}", plant=[f["phone"]])  # one line, as OCR reads it
    for line in rng.choice(v["addresses"]):
        y += int(size * 1.6)
        p.text(m, y, line, size, p.grey)
    y += int(size * 2.2)
    p.text(m, y, lab["carrier"].format(f["carrier"][1]))
    y += int(size * 1.6)
    p.text(m, y, lab["tracking"].format(f["tracking"][1]), plant=[f["tracking"]])
    if rng.random() < 0.5:
        eta, y = _date(rng, lang), y + int(size * 1.6)
        p.text(m, y, lab["eta"].format(eta[1]), size, p.grey, plant=[eta])
    w = p.button(m, y + 26, lab["track"], p.accent, "white")
    p.button(m + w + 12, y + 26, lab["contact"], "white", p.accent, outline=p.accent)
    return 30


def _chat(p: Page, rng: random.Random, lang: str, v, lab, f, body) -> int:
    m, hh, agent = max(14, p.w // 40), rng.randint(54, 64), rng.choice(v["agents"])
    p.shape("rectangle", (0, 0, p.w, hh), fill=p.accent)
    title = f"{rng.choice(v['shops'])} {lab['support']}"
    p.text(m, hh / 2, title, rng.randint(18, 22), "white", bold=True, anchor="lm", max_w=p.w * 0.65)
    p.text(p.w - m, hh / 2, lab["online"], 14, "white", anchor="rm")
    y = hh + 34
    p.text(p.w / 2, y, f["date"][1], 14, p.grey, anchor="ms", plant=[f["date"]])
    mine = ((149, 236, 105), p.ink) if rng.random() < 0.4 else (p.accent, "white")  # WeChat green
    slots = dict(f, amount=_money(rng.choice((1999, 4500, 8900)), lang, rng.randrange(2)))
    minute = rng.randint(9 * 60, 20 * 60)
    for i, template in enumerate(rng.choice(v["scripts"])[: rng.randint(4, 6)]):
        right, minute, r, y = i % 2 == 1, minute + rng.randint(0, 3), 16, y + 30
        own = body is not None and i == 0  # the caller's lines are the customer's first message
        lines = body if own else [t.format(**{k: s[1] for k, s in slots.items()}) for t in template]
        plant = [] if own else [s for k, s in slots.items() if "{" + k + "}" in "".join(template)]
        h, mm = divmod(minute, 60)
        stamp = f"{(h - 1) % 12 + 1}:{mm:02d} {'AM' if h < 12 else 'PM'}"
        stamp = f"{h:02d}:{mm:02d}" if lang == "zh" else stamp
        ax = p.w - m - r if right else m + r
        p.shape("ellipse", (ax - r, y - 10, ax + r, y + 22), fill=(203, 213, 225))
        inner = p.w * (0.66 if p.w >= 600 else 0.78) - 28  # widest bubble text
        size = min(p.fit(t, p.size, inner)[1] for t in lines)
        fitted = [p.fit(t, size, inner)[0] for t in lines]
        bw = max(p.font(size).getlength(t) for t in fitted) + 28
        bx = p.w - m - 2 * r - 10 - bw if right else m + 2 * r + 10
        who = f"{agent if right else f['name'][1]} {stamp}"  # one line, as OCR reads it
        p.text(bx + bw if right else bx, y, who, 14, p.grey, anchor="rs" if right else "ls")
        fill, ink = mine if right else ((236, 238, 241), p.ink)
        step = int(size * 1.5)
        p.rect((bx, y + 8, bx + bw, y + 28 + step * len(fitted)), 14, fill=fill)
        for j, t in enumerate(fitted):
            p.text(bx + 14, y + 18 + step * j + int(size * 1.1), t, size, ink, plant=plant)
        y += 28 + step * len(fitted)
    y += 24
    p.shape("rectangle", (0, y, p.w, y + 64), fill=(247, 248, 250))
    p.rect((m, y + 12, p.w - m - 90, y + 52), 20, fill="white", outline=(220, 222, 226))
    p.text(m + 16, y + 32, lab["typing"], 15, (160, 165, 170), anchor="lm", max_w=p.w - 2 * m - 120)
    p.button(p.w - m, y + 13, lab["send"], p.accent, "white", right=True)
    p.bottom = y + 64
    return 0


def _other(p: Page, rng: random.Random, lang: str, v, lab, f, body) -> int:
    m, size, hh, row = p.m, p.size, rng.randint(52, 60), int(p.size * 3)
    variant, centred = rng.choice(("settings", "help", "account")), rng.random() < 0.5
    p.shape("rectangle", (0, 0, p.w, hh), fill="white")
    p.shape("rectangle", (0, hh, p.w, hh), fill=(226, 228, 232))
    x, anchor = (p.w / 2, "mm") if centred else (m, "lm")
    p.text(x, hh / 2, lab[variant], rng.randint(18, 24), bold=True, anchor=anchor)
    y = hh + 16
    if body:
        y1 = y + 28 + int(size * 1.6) * len(body) + size
        p.shape("rounded_rectangle", (m, y + 8, p.w - m, y1), radius=8, fill=(254, 249, 195))
        for j, line in enumerate((lab["notice"], *body)):
            ny = y + 14 + size + int(size * 1.6) * j
            p.text(m + 14, ny, line, bold=j == 0, max_w=p.w - 2 * m - 28)
        y = y1
    line_at = lambda y: p.shape("rectangle", (m, y, p.w - m, y), fill=(232, 234, 238))  # noqa: E731
    if variant == "settings":
        toggles = [(t, rng.random() < 0.6) for t in rng.sample(v["toggles"], 3)]
        values = rng.sample(v["values"], 3)
        for section, items in zip(v["sections"], (values, toggles), strict=True):
            p.text(m, y + 36, section, 14, p.grey, bold=True)
            y += 44
            for label, value in items:
                mid, y = y + row / 2, y + row
                line_at(y)
                p.text(m, mid, label, anchor="lm", max_w=p.w * 0.6)
                if isinstance(value, str):
                    p.text(p.w - m, mid, value, size - 1, p.grey, anchor="rm", max_w=p.w * 0.3)
                    continue
                p.shape("rounded_rectangle", (p.w - m - 44, mid - 12, p.w - m, mid + 12), radius=12,
                        fill=p.accent if value else (209, 213, 219))  # fmt: skip
                kx = p.w - m - 12 if value else p.w - m - 32
                p.shape("ellipse", (kx - 10, mid - 10, kx + 10, mid + 10), fill="white")
    elif variant == "help":
        p.shape("rounded_rectangle", (m, y + 20, p.w - m, y + 62), radius=21, fill=(243, 244, 246))
        p.text(m + 20, y + 41, lab["search"], 15, (156, 163, 175), anchor="lm")
        y += 62
        for question, answer in rng.sample(v["faq"], 3):
            y += 44
            p.text(m, y, question, size + 1, bold=True)
            for line in answer:
                y += int(size * 1.6)
                p.text(m, y, line, size, p.grey)
            line_at(y + 18)
    else:
        since, address = _date(rng, lang), ("", rng.choice(v["addresses"])[0], "")
        for key, planted in (("name", f["name"]), ("email", f["email"]), ("phone", f["phone"]),
                             ("since", since), ("address", address)):  # fmt: skip
            mid, y = y + row / 2, y + row
            p.text(m, mid, lab[key], size, p.grey, anchor="lm", max_w=p.w * 0.3)
            keep = [planted] if planted[0] else []
            p.text(p.w - m, mid, planted[1], anchor="rm", max_w=p.w * 0.6, plant=keep)
            line_at(y)
        w = p.button(m, y + 28, lab["edit"], p.accent, "white")
        p.button(m + w + 12, y + 28, lab["signout"], "white", (220, 38, 38), outline=(220, 38, 38))
    return 28


# kind -> builder(page, rng, language, vocabulary, labels, planted fields, body lines or None)
#   -> bottom margin in px; it draws on the page in reading order.
BUILDERS = dict(error_dialog=_error_dialog, order_page=_order_page, chat=_chat, other=_other)
