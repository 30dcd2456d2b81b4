"""The screenshot-kind classifier: OCR cues, the encoder's screen classes, prototypes."""

from __future__ import annotations

import numpy as np
import pytest

from vision.fields import extract_fields
from vision.kind import KINDS, SCREEN_LABELS, KindClassifier, KindWeights, fit_prototypes
from vision.ocr import make_page
from vision.types import ImageFeatures, OCRLine


def page(*rows):
    """rows of (text, x0, x1): one line per row, 30 px apart, on an 800 px wide page."""
    return make_page(
        [OCRLine(t, (x0, 30 * i, x1, 30 * i + 20), 0.9) for i, (t, x0, x1) in enumerate(rows)]
    )


PAGES = {
    "error_dialog": page(("Payment failed", 100, 500), ("Your card was declined.", 100, 600), ("Error 0x80070005", 100, 400), ("OK", 600, 650)),
    "order_page": page(("Order ORD-48213", 20, 300), ("Mug x1 $9.95", 20, 780), ("Shipping $4.99", 20, 780), ("Total $14.94", 20, 780)),
    "chat": page(("Hi, my parcel is late", 20, 300), ("10:31", 20, 80), ("Sorry to hear that! Let me check.", 480, 790), ("10:32", 700, 790), ("Thanks", 20, 120), ("You're welcome", 560, 790)),
    "other": page(("Account settings", 20, 400), ("Profile", 20, 200), ("Language: English", 20, 400), ("Help and FAQ", 20, 300)),
    "error_zh": page(("支付失败", 100, 300), ("您的银行卡被拒绝，请稍后重试。", 100, 600), ("错误代码：E-1042", 100, 400)),
    "order_zh": page(("订单编号：ORD-269771", 20, 300), ("商品总额 81.50元", 20, 780), ("运费 0.00元", 20, 780), ("实付款 81.50元", 20, 780)),
}  # fmt: skip


@pytest.mark.parametrize(
    "name, kind",
    [("error_dialog", "error_dialog"), ("order_page", "order_page"), ("chat", "chat"), ("other", "other"),
     ("error_zh", "error_dialog"), ("order_zh", "order_page")],
)  # fmt: skip
def test_ocr_cues_alone_pick_the_kind(name, kind):
    p = PAGES[name]
    result = KindClassifier().classify(p, extract_fields(p.text), None)
    assert result.label == kind
    assert set(result.scores) == set(KINDS) and sum(result.scores.values()) == pytest.approx(1.0)
    assert result.confidence == max(result.scores.values())


def probs(labels, mass_on_screen):
    p = np.zeros(len(labels), np.float32)
    screen = [i for i, lab in enumerate(labels) if lab in SCREEN_LABELS]
    other = [i for i, lab in enumerate(labels) if lab not in SCREEN_LABELS]
    p[screen] = mass_on_screen / len(screen)
    p[other] = (1 - mass_on_screen) / len(other)
    return p


LABELS = ("web site", "menu", "espresso", "carton", "moped")


def feats(label_probs=None, pooled=None):
    pooled = np.ones(4, np.float32) if pooled is None else pooled
    return ImageFeatures(pooled[None, :], pooled, (1, 1), label_probs)


def test_a_picture_with_no_text_that_the_encoder_sees_as_a_photo_is_a_product_photo():
    clf = KindClassifier(labels=LABELS)
    empty = make_page([])
    assert clf.classify(empty, (), feats(probs(LABELS, 0.02))).label == "product_photo"
    assert clf.classify(empty, (), feats(probs(LABELS, 0.95))).label != "product_photo"
    photo = clf.classify(empty, (), feats(probs(LABELS, 0.02)))
    text_only = KindClassifier().classify(empty, (), None)
    assert photo.confidence > text_only.confidence  # the encoder's evidence adds certainty


def test_screen_evidence_does_not_override_strong_text_cues():
    clf = KindClassifier(labels=LABELS)
    p = PAGES["order_page"]
    assert clf.classify(p, extract_fields(p.text), feats(probs(LABELS, 0.9))).label == "order_page"


def test_order_table_rows_are_not_chat_bubbles():
    table = make_page(
        [
            OCRLine(t, (x0, y, x1, y + 20), 0.9)
            for y in (0, 30, 60, 90)
            for t, x0, x1 in (("item", 20, 100), ("$1.00", 700, 780))
        ]
    )
    assert (
        KindClassifier().scores(table, (), None)["chat"]
        < KindClassifier().scores(PAGES["chat"], (), None)["chat"]
    )


def test_prototypes_decide_when_text_is_silent():
    a, b = np.array([1, 0, 0, 0], np.float32), np.array([0, 1, 0, 0], np.float32)
    protos = fit_prototypes(
        [feats(pooled=a), feats(pooled=a * 2), feats(pooled=b)], ["chat", "chat", "order_page"]
    )
    assert np.allclose(protos["chat"], a * 1.5)
    clf = KindClassifier(prototypes=protos)
    empty = make_page([])
    assert clf.classify(empty, (), feats(pooled=a)).label == "chat"
    assert clf.classify(empty, (), feats(pooled=b)).label == "order_page"


def test_prototype_errors():
    with pytest.raises(ValueError, match="unknown kinds"):
        KindClassifier(prototypes={"invoice": np.ones(4)})
    with pytest.raises(ValueError, match="2 feature sets but 1 labels"):
        fit_prototypes([feats(), feats()], ["chat"])
    with pytest.raises(ValueError, match="unknown kind"):
        fit_prototypes([feats()], ["invoice"])


def test_a_business_adds_words_that_tell_a_kind():
    """A pack's [kinds] words count beside the core's; words for a kind that words do not tell
    (a photo is told by having few) are refused."""
    p = page(("账单 2026-11", 20, 300), ("转账 ¥128.00", 20, 780), ("余额", 20, 780))
    fields = extract_fields(p.text)
    core = KindClassifier().scores(p, fields, None)
    bank = KindClassifier(words={"order_page": ["账单", "转账", "余额", ""]}).scores(
        p, fields, None
    )
    assert bank["order_page"] == pytest.approx(core["order_page"] + 3 * KindWeights().words)
    assert {k: v for k, v in bank.items() if k != "order_page"} == {k: v for k, v in core.items() if k != "order_page"}  # fmt: skip
    with pytest.raises(ValueError, match="words tell"):
        KindClassifier(words={"product_photo": ["照片"]})
