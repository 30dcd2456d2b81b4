"""Synthetic screenshots with ground truth: error dialogs, order pages, chats, settings pages.

Deterministic for a seed, in English and Chinese, drawn with Pillow. Every ground-truth line is
one `draw.text` call at one baseline, never wrapped and kept inside the canvas (text that would
overflow is shrunk down to 14 px, then cut). `fields` holds the values the page planted,
normalised as vision.fields writes them ("128.00 CNY", "2026-11-29", "+8613812345678"); lines a
caller passes with `text=` are drawn as they are and are not scanned for fields. The pages
themselves are drawn by vision.synth_pages, with the words a domain pack gives
(vision.synth_vocab: a pack's `DomainPack.screen_words()`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vision.synth_pages import BUILDERS, Page, plant_fields
from vision.synth_vocab import Words
from vision.types import Image

KINDS_RENDERED = ("error_dialog", "order_page", "chat", "other")
LANGUAGES = ("en", "zh")
FONT_DIRS = (
    "/usr/share/fonts/truetype", "/usr/share/fonts/opentype", "/usr/share/fonts",
    "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts", "/Library/Fonts",
)  # fmt: skip
_PAPER = ((255, 255, 255), (248, 249, 251), (245, 245, 247), (250, 248, 245), (243, 246, 250))


@dataclass(frozen=True, eq=False)
class SynthScreenshot:
    """A rendered page and what a perfect reader would get from it."""

    image: Image
    kind: str  # one of KINDS_RENDERED
    language: str  # "en" or "zh"
    lines: tuple[str, ...]  # every text line drawn, top to bottom, left to right within a row
    fields: dict[str, list[str]] = field(default_factory=dict)  # kind -> normalised values planted

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def find_font(name: str, dirs: Sequence[str] = FONT_DIRS) -> str | None:
    """The first file called `name` in `dirs` or one folder below them, else None."""
    for d in (Path(d).expanduser() for d in dirs):
        for path in (d / name, *sorted(d.glob(f"*/{name}"))) if d.is_dir() else ():
            if path.is_file():
                return str(path)
    return None


def font_files(language: str, font_path: str | None = None) -> tuple[str, str]:
    """(regular, bold) font files for `language`: DejaVu Sans for English, WenQuanYi Micro Hei
    for Chinese and as the fallback for both; `font_path` overrides them."""
    if font_path is not None:
        if not Path(font_path).is_file():
            raise FileNotFoundError(f"font_path {font_path!r} is not a file")
        return font_path, font_path
    if language == "en" and (regular := find_font("DejaVuSans.ttf")):
        return regular, find_font("DejaVuSans-Bold.ttf") or regular
    if wqy := find_font("wqy-microhei.ttc"):
        return wqy, wqy
    need = "fonts-wqy-microhei" if language == "zh" else "fonts-dejavu-core or fonts-wqy-microhei"
    raise FileNotFoundError(
        f"no font for language {language!r} in {', '.join(FONT_DIRS)}: install the Debian "
        f"package {need} (apt-get install {need.split()[0]}) or pass font_path="
    )


def render(
    kind: str,
    language: str,
    seed: int,
    *,
    words: Words,
    width: int = 800,
    text: Sequence[str] | None = None,
    font_path: str | None = None,
    order: str | None = None,
) -> SynthScreenshot:
    """One screenshot of `kind` in `language`: the same pixels for the same arguments.

    words: the pages' words per language (vision.synth_vocab.read_words; a domain pack's
        `DomainPack.screen_words()`).
    text: lines to write into the page body (the dialog's message, the first customer message of a
        chat, a note on an order page, a notice on the other pages); they are not scanned for
        fields. A line too wide for the page even at 14 px is cut, with a warning: on pages
        narrower than 600 px keep them under ~30 characters, and check `lines`.
    font_path: one font file to draw everything with, instead of DejaVu Sans / WenQuanYi Micro Hei.
    order: the order number to show (one of a real back office, "W5918442": the page's label
        adds its own "#" where it has one) instead of a made-up one.
    """
    if kind not in BUILDERS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS_RENDERED}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose one of {LANGUAGES}")
    if language not in words:
        raise ValueError(f"words= has no {language!r} words (it has {sorted(words)}); read them with vision.synth_vocab.read_words")  # fmt: skip
    if not 480 <= width <= 4000:
        raise ValueError(f"width={width} is outside 480..4000 pixels")
    body = None if text is None else tuple(text)
    if body is not None and (
        not body or any(not t.strip() or t != t.splitlines()[0] for t in body)
    ):
        raise ValueError(f"text= must be non-empty lines without line breaks, got {body!r}")
    rng = random.Random(f"{kind}/{language}/{seed}")
    desktops = ((36, 52, 71), (52, 73, 94), (226, 232, 240), (90, 110, 140))
    bg = rng.choice(desktops if kind == "error_dialog" else _PAPER)
    cjk = body is not None and any(ord(c) >= 0x2E80 for c in "".join(body))  # DejaVu has none
    page = Page(width, bg, font_files("zh" if cjk else language, font_path), rng)
    v = words[language]
    planted = plant_fields(rng, language, v)
    if order:
        planted["order"] = ("order_number", order, order.lstrip("#"))
    margin = BUILDERS[kind](page, rng, language, v, v["labels"], planted, body)
    image = Image(page.render(margin), source=f"synth:{kind}/{language}/{seed}", format="PNG")
    fields = {k: values for k, values in page.fields.items() if values}
    return SynthScreenshot(image, kind, language, tuple(page.lines), fields)


def render_lines(
    lines: Sequence[str], language: str, seed: int, *, width: int = 640
) -> SynthScreenshot:
    """A plain app page showing exactly `lines`: the first as its bold title, the rest as rows
    (an order page a customer captured, when the text is already known, as in generated
    training dialogues). The same pixels for the same arguments."""
    rows = [t for t in lines if t.strip()]
    if not rows or any(t != t.splitlines()[0] for t in rows):
        raise ValueError(f"lines must be non-empty lines without line breaks, got {list(lines)!r}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose one of {LANGUAGES}")
    rng = random.Random(f"lines/{language}/{seed}")
    cjk = any(ord(c) >= 0x2E80 for c in "".join(rows))
    page = Page(width, rng.choice(_PAPER), font_files("zh" if cjk else language), rng)
    hh, step = rng.randint(52, 60), int(page.size * 2.2)
    page.shape("rectangle", (0, 0, page.w, hh), fill="white")
    page.shape("rectangle", (0, hh, page.w, hh), fill=(226, 228, 232))
    page.text(page.m, hh / 2, rows[0], rng.randint(18, 22), bold=True, anchor="lm")
    y = hh + 12
    for line in rows[1:]:
        y += step
        page.text(page.m, y, line)
    img = Image(page.render(24), source=f"synth:lines/{language}/{seed}", format="PNG")
    return SynthScreenshot(img, "order_page", language, tuple(page.lines))


def render_set(n: int, seed: int = 0, *, words: Words) -> list[SynthScreenshot]:
    """n screenshots cycling through the kinds and alternating the languages: each block of 4
    holds every kind and both languages twice; any 8 in a row hold every (kind, language) once."""
    if n < 0:
        raise ValueError(f"n={n} must be >= 0")
    k = len(KINDS_RENDERED)
    pairs = [(KINDS_RENDERED[i % k], LANGUAGES[(i + i // k) % 2]) for i in range(n)]
    return [
        render(kind, lang, seed=seed * 1_000_003 + i, words=words)
        for i, (kind, lang) in enumerate(pairs)
    ]
