"""What sort of picture a customer sent: an error dialog, an order or receipt page, a product
photo, a chat capture, or something else, with a confidence.

Three kinds of evidence are summed into one score per kind, then a softmax:
- OCR cues: words of each kind in English and Chinese ("error", "失败"; "subtotal", "合计"),
  the fields found (an error code, amounts, an order number), and the layout (chat bubbles
  alternate between the left and right halves; help pages ask questions; a photo carries
  little text);
- the encoder's trained head, when it has one: ImageNet's classifier puts screenshots in a few
  classes ("web site", "menu", "hand-held computer"), so their total probability tells a
  screenshot from a photo;
- optional prototypes: mean pooled embeddings per kind, fitted on labelled examples with
  `fit_prototypes` and compared by cosine similarity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vision.types import Field, ImageFeatures, Kind, PageText

KINDS = ("error_dialog", "order_page", "product_photo", "chat", "other")

SCREEN_LABELS = frozenset(
    {
        "web site", "menu", "envelope", "hand-held computer", "monitor", "screen", "television",
        "notebook", "laptop", "desktop computer", "scoreboard", "crossword puzzle", "comic book",
        "book jacket", "binder", "slide rule", "cash machine", "oscilloscope", "digital clock",
        "rule", "packet", "iPod", "cellular telephone", "remote control", "analog clock",
    }
)  # fmt: skip

_WORDS = {
    "error_dialog": (
        r"\berror\b|\bfail(?:ed|ure)?\b|\bunable\b|\bcannot\b|\bcan't\b|\bcouldn't\b|\bdenied\b|"
        r"\bdeclined\b|\binvalid\b|went wrong|try again|\bretry\b|\bexception\b|\bwarning\b|"
        r"not found|timed? ?out|unavailable|\bexpired\b|错误|失败|异常|无法|不能|拒绝|出错|"
        r"重试|警告|超时|未找到|失效|不可用|故障"
    ),
    "order_page": (
        r"\border\b|\breceipt\b|\binvoice\b|\btotal\b|\bsubtotal\b|\bshipping\b|\bqty\b|"
        r"\bquantity\b|\bpaid\b|\bdelivered\b|\btracking\b|\bship to\b|\bitems?\b|\btax\b|"
        r"合计|总计|小计|运费|数量|单价|实付|发货|收货|商品|已支付|付款|配送"
    ),
    "chat": (
        r"\bagent\b|\bcustomer\b|\bsupport\b|\bhi\b|\bhello\b|\bthanks?\b|\bthank you\b|"
        r"\bsent\b|\bread\b|\btyping\b|\bonline\b|客服|您好|你好|谢谢|在线|已读|正在输入"
    ),
    "other": (
        r"\bsettings?\b|\baccount\b|\bprofile\b|\bhelp\b|\bfaq\b|\bsearch\b|\bprivacy\b|"
        r"\bnotifications?\b|\bhow (?:do|can|to)\b|设置|账户|帮助|常见问题|搜索|隐私|通知|如何|怎么"
    ),
}
WORD_KINDS = tuple(_WORDS)  # the kinds that words tell (a photo is told by having few)
_CLOCK = re.compile(r"\b(?:[01]?\d|2[0-3]):[0-5]\d\b")
_FIELD_CUES = {
    "error_code": "error_dialog",
    "order_number": "order_page",
    "tracking_number": "order_page",
}


@dataclass(frozen=True)
class KindWeights:
    words: float = 0.6  # per distinct keyword found, counted up to 4 per kind
    field: float = 1.2  # per cue field (an error code for a dialog; an order or tracking number)
    amounts: float = 0.5  # per amount, up to 4, for an order page
    clocks: float = 0.5  # per clock time, up to 4, for a chat
    bubbles: float = 2.0  # times the left/right alternation of short lines, for a chat
    questions: float = 0.4  # per line ending in a question mark, up to 3, for an FAQ or help page
    little_text: float = 2.5  # for a photo, when the page has under 20 characters
    screen: float = 5.0  # times (screen-class probability - 0.5): screenshot against photo
    prototypes: float = 8.0  # times cosine similarity to each kind's prototype
    temperature: float = 1.0


class KindClassifier:
    """`classify(page, fields, features) -> Kind`; features may be None (no encoder ran)."""

    def __init__(
        self,
        labels: Sequence[str] = (),
        prototypes: Mapping[str, np.ndarray] | None = None,
        weights: KindWeights = KindWeights(),
        words: Mapping[str, Sequence[str]] | None = None,
    ):
        """words: a business's own words per kind, beside the core's (a pack's [kinds] table,
        `DomainPack.reading_words`), e.g. {"order_page": ["账单", "发票"]}; plain words, any language."""
        self.weights = weights
        unknown = set(words or {}) - set(WORD_KINDS)
        if unknown:
            raise ValueError(f"words for kinds {sorted(unknown)}; words tell {WORD_KINDS}")
        self._patterns = {
            kind: re.compile(
                "|".join([core, *(re.escape(w) for w in (words or {}).get(kind, ()) if w.strip())]),
                re.IGNORECASE,
            )  # fmt: skip
            for kind, core in _WORDS.items()
        }
        self._screen = np.array([label in SCREEN_LABELS for label in labels], dtype=bool)
        self.prototypes = dict(prototypes or {})
        unknown = set(self.prototypes) - set(KINDS)
        if unknown:
            raise ValueError(f"prototypes for unknown kinds {sorted(unknown)}; kinds are {KINDS}")

    def scores(
        self, page: PageText, fields: Sequence[Field], features: ImageFeatures | None
    ) -> dict[str, float]:
        w = self.weights
        s = dict.fromkeys(KINDS, 0.0)
        text = page.text
        for kind, pattern in self._patterns.items():
            s[kind] += w.words * min(len({m.lower() for m in pattern.findall(text)}), 4)
        for f in fields:
            if f.kind in _FIELD_CUES:
                s[_FIELD_CUES[f.kind]] += w.field
        s["order_page"] += w.amounts * min(sum(f.kind == "amount" for f in fields), 4)
        s["chat"] += w.clocks * min(len(_CLOCK.findall(text)), 4) + w.bubbles * _alternation(page)
        questions = sum(ln.text.rstrip().endswith(("?", "？")) for ln in page.lines)
        s["other"] += w.questions * min(questions, 3)
        n_chars = len(re.sub(r"\s", "", text))
        s["product_photo"] += w.little_text * (n_chars < 20) - 0.05 * min(n_chars, 100)
        if features is not None and features.label_probs is not None and self._screen.any():
            screen = float(features.label_probs[self._screen].sum())
            for kind in KINDS:
                if kind != "product_photo":
                    s[kind] += w.screen * (screen - 0.5) / 2
            s["product_photo"] -= w.screen * (screen - 0.5)
        if features is not None and self.prototypes:
            v = features.pooled / (np.linalg.norm(features.pooled) + 1e-8)
            for kind, proto in self.prototypes.items():
                s[kind] += w.prototypes * float(v @ (proto / (np.linalg.norm(proto) + 1e-8)))
        s["other"] += 0.5  # the prior: what nothing else explains is "other"
        return s

    def classify(
        self, page: PageText, fields: Sequence[Field], features: ImageFeatures | None
    ) -> Kind:
        s = self.scores(page, fields, features)
        logits = np.array([s[k] for k in KINDS]) / self.weights.temperature
        p = np.exp(logits - logits.max())
        p /= p.sum()
        best = int(p.argmax())
        return Kind(
            label=KINDS[best],
            confidence=float(p[best]),
            scores={k: float(v) for k, v in zip(KINDS, p, strict=True)},
        )


def _alternation(page: PageText) -> float:
    """How much rows holding one short line switch between the left and right halves of the page
    (0 to 1). Rows with two or more lines (an item and its price) are table rows, not bubbles."""
    if len(page.lines) < 4:
        return 0.0
    width = max(ln.box[2] for ln in page.lines) or 1
    rows: list[list] = []
    for ln in page.lines:  # already in reading order: a row's lines are adjacent
        if rows and ln.box[1] < rows[-1][-1].box[3] and ln.box[3] > rows[-1][-1].box[1]:
            rows[-1].append(ln)
        else:
            rows.append([ln])
    sides = []
    for row in rows:
        x0, _, x1, _ = row[0].box
        if len(row) == 1 and (x1 - x0) < 0.7 * width:  # a bubble, not a full-width line
            sides.append("L" if (x0 + x1) / 2 < width / 2 else "R")
    if len(sides) < 4 or len(set(sides)) < 2:
        return 0.0
    switches = sum(a != b for a, b in zip(sides, sides[1:], strict=False))
    return min(1.0, 2 * switches / (len(sides) - 1))


def fit_prototypes(
    features: Sequence[ImageFeatures], labels: Sequence[str]
) -> dict[str, np.ndarray]:
    """The mean pooled embedding of each kind's examples: save with np.savez, pass to KindClassifier."""
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature sets but {len(labels)} labels")
    out: dict[str, np.ndarray] = {}
    for kind in sorted(set(labels)):
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; kinds are {KINDS}")
        out[kind] = np.mean(
            [f.pooled for f, lab in zip(features, labels, strict=True) if lab == kind], axis=0
        )
    return out
