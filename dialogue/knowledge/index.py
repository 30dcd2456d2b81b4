"""Ranking for the knowledge base: tokens, BM25 and reciprocal rank fusion. No storage, no model.

`tokenize` reads English and Chinese in one pass: Chinese runs are segmented by jieba in search
mode (so "身份证号" gives "身份", "证号", "身份证" and "身份证号"), English words are lower-cased, stopwords dropped
and a few suffixes stripped ("returned", "returns" and "returning" all give "return"); words with
digits (order and item ids, amounts) are kept as they are.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

_RUN = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)|([A-Za-z0-9]+)")
_VOWEL = re.compile(r"[aeiouy]")
# fmt: off
STOPWORDS_EN = frozenset({
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "for",
    "from", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my",
    "no", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own",
    "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
    "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
    "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while",
    "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
})
STOPWORDS_ZH = frozenset({
    "的", "了", "是", "我", "你", "他", "她", "它", "我们", "你们", "他们", "吗", "呢", "吧", "啊", "呀", "哦", "在",
    "和", "与", "及", "或", "把", "被", "就", "都", "也", "还", "请", "想", "能", "可以", "什么", "怎么", "怎样",
    "如何", "一个", "这", "那", "这个", "那个", "有", "没有", "会", "要", "得", "地", "着", "过",
})
# fmt: on


def stem(word: str) -> str:
    """A tiny suffix stripper for lower-case English: plurals, -ed and -ing, a final -e.

    Not Porter, but it makes the usual forms meet: accounts/accounted/account -> "account",
    stopping/stopped/stops -> "stop", cancelled/cancelling/cancel -> "cancel",
    exchange/exchanged/exchanging -> "exchang". Words with digits are left alone.
    """
    if len(word) < 4 or not word.isalpha():
        return word
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        base = word[: -len(suffix)]
        if word.endswith(suffix) and len(base) >= 3 and _VOWEL.search(base):
            word = base
            if word[-1] == word[-2] and word[-1] not in "lsz":  # shipp -> ship
                word = word[:-1]
            break
    if word.endswith("ll") and len(word) > 4:  # cancell -> cancel; call stays
        word = word[:-1]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


@functools.cache
def _jieba():
    try:
        import jieba
    except ImportError as e:
        raise ImportError(
            "Chinese search needs jieba: pip install 'contact-centre-agent[dialogue]'"
        ) from e
    jieba.setLogLevel(logging.WARNING)  # it prints "Building prefix dict..." at every start
    return jieba


def tokenize(text: str) -> list[str]:
    """BM25 tokens of English and Chinese text (full-width letters and digits folded by NFKC)."""
    out: list[str] = []
    for m in _RUN.finditer(unicodedata.normalize("NFKC", text)):
        if m.group(1):
            out += [w for w in _jieba().cut_for_search(m.group(1)) if w not in STOPWORDS_ZH]
        else:
            word = m.group(2).lower()
            if word not in STOPWORDS_EN:
                out.append(stem(word))
    return out


class BM25:
    """Okapi BM25 (k1, b) over tokenised documents, with an inverted index.

    Each term's contribution to each document that holds it is computed once here, so scoring a
    query is one scatter-add per query term: a few thousand documents take well under a ms.
    """

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75):
        self.n = len(documents)
        lengths = np.array([len(d) for d in documents], dtype=np.float32)
        avg = float(lengths.mean()) if self.n else 0.0
        norm = k1 * (1 - b + b * lengths / max(avg, 1e-9))  # (n,)
        postings: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        for i, doc in enumerate(documents):
            for term, tf in Counter(doc).items():
                postings[term][0].append(i)
                postings[term][1].append(tf)
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (ids, tfs) in postings.items():
            ids_a, tf = np.array(ids, dtype=np.int64), np.array(tfs, dtype=np.float32)
            idf = math.log(1 + (self.n - len(ids) + 0.5) / (len(ids) + 0.5))
            self.postings[term] = (ids_a, idf * tf * (k1 + 1) / (tf + norm[ids_a]))

    def scores(self, query: Iterable[str]) -> np.ndarray:
        """(n,) BM25 score of every document; each distinct query term counts once."""
        out = np.zeros(self.n, dtype=np.float32)
        for term in dict.fromkeys(query):
            if term in self.postings:
                ids, weights = self.postings[term]
                out[ids] += weights
        return out

    def rank(self, query: Iterable[str], depth: int) -> list[int]:
        """Indices of the best `depth` documents that match at least one query term, best first."""
        scores = self.scores(query)
        matched = np.flatnonzero(scores > 0)
        order = np.argsort(-scores[matched], kind="stable")[:depth]
        return matched[order].tolist()


def dense_rank(matrix: np.ndarray, query: np.ndarray, depth: int) -> list[int]:
    """Indices of the `depth` rows of `matrix` (n, dim) most cosine-similar to `query` (dim,).

    Rows and query are L2-normalised, so the dot product is the cosine.
    """
    if not len(matrix):
        return []
    sims = matrix @ query
    depth = min(depth, len(sims))
    top = np.argpartition(-sims, depth - 1)[:depth]
    return top[np.argsort(-sims[top], kind="stable")].tolist()


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> dict[int, float]:
    """Cormack et al. (2009): each item scores the sum over rankings of 1 / (k + its 1-based rank)."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] += 1.0 / (k + rank)
    return dict(scores)
