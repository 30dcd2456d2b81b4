"""Mandarin text -> Kokoro v1.0 phonemes, with the readings a contact centre needs right.

misaki's own zh G2P for Kokoro v1.0 reads each jieba word with pypinyin and stops there: no tone
sandhi (一共 yī gòng, 不便 bù biàn, 可以 kě yǐ), and a few polyphones read wrong in the words a
service line says every day (还款 hái kuǎn, 长时间 zhǎng, 您得先 dé). `MandarinG2P` keeps its
phoneme format (pinyin to IPA with tone arrows, words separated by spaces) and adds:

1. jieba words with their parts of speech, merged for sandhi as PaddleSpeech does (misaki ships
   that `ToneSandhi`);
2. pypinyin readings, overridden by `PHRASES` (words) and by a few part-of-speech rules for single
   characters (为 before a noun is wèi, verb 还 is huán, 得 between a pronoun and a verb is děi);
3. tone sandhi: 一 and 不, third tones, neutral tones (了 着 过, 的 地 得, 们 子);
4. 儿 after a word stays its own neutral syllable (Kokoro v1.0 has no erhua symbols).

Numbers should be words before this (voice.tts.text.normalize); digits left over are read by cn2an.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")

# Whole words whose pypinyin reading is wrong for a service line (TONE3, neutral tone 5).
PHRASES = {
    "还款": "huan2 kuan3",
    "还钱": "huan2 qian2",
    "还清": "huan2 qing1",
    "还贷": "huan2 dai4",
    "归还": "gui1 huan2",
    "借还": "jie4 huan2",
    "还款日": "huan2 kuan3 ri4",
    "长时间": "chang2 shi2 jian1",
    "时长": "shi2 chang2",
    "多长": "duo1 chang2",
    "很长": "hen3 chang2",
    "开户行": "kai1 hu4 hang2",
    "发卡行": "fa1 ka3 hang2",
    "行号": "hang2 hao4",
    "为准": "wei2 zhun3",
    "重发": "chong2 fa1",
}
# Single characters read by their part of speech (jieba's tags): (char, tag prefix) -> reading.
BY_TAG = {
    ("为", "p"): "wei4",  # 为您办理
    ("还", "v"): "huan2",  # 按时还
    ("地", "uv"): "de5",  # 耐心地
    ("长", "a"): "chang2",
}
PRONOUNS = frozenset("我你您他她它") | {"我们", "你们", "他们", "她们", "咱们"}


@dataclass
class MandarinG2P:
    """Callable: Chinese text -> phoneme string (misaki's Kokoro v1.0 zh format)."""

    phrases: dict[str, str] = field(default_factory=lambda: dict(PHRASES))

    def __post_init__(self):
        from misaki.tone_sandhi import ToneSandhi

        self._sandhi = ToneSandhi()

    def words(self, text: str) -> list[tuple[str, str]]:
        """(word, part of speech) as jieba cuts them, merged for tone sandhi."""
        import jieba.posseg as psg

        return [tuple(w) for w in self._sandhi.pre_merge_for_modify(psg.lcut(text))]

    def _fixed(self, word: str, tag: str, prev: tuple[str, str], nxt: tuple[str, str]) -> list[str]:
        """A reading given by `phrases`, `BY_TAG` or the 得 rule, which sandhi leaves alone."""
        if word in self.phrases:
            return self.phrases[word].split()
        if (word, tag[:2]) in BY_TAG or (word, tag[:1]) in BY_TAG:
            return [BY_TAG.get((word, tag[:2])) or BY_TAG[(word, tag[:1])]]
        if word == "得" and prev[0] in PRONOUNS and nxt[1][:1] in ("d", "v"):
            return ["dei3"]  # 您得先登录
        return []

    def _reading(self, word: str) -> list[str]:
        from pypinyin import Style, lazy_pinyin

        syllables = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)
        for phrase, said in self.phrases.items():  # a listed word inside a longer one
            for m in re.finditer(re.escape(phrase), word):
                syllables[m.start() : m.end()] = said.split()
        return syllables

    def pinyin(self, text: str) -> list[tuple[str, list[str]]]:
        """(word, its syllables after sandhi, e.g. ["yi2", "gong4"]); punctuation as itself."""
        import cn2an

        words = self.words(cn2an.transform(text, "an2cn"))
        out = []
        for i, (word, tag) in enumerate(words):
            if not HAN.match(word):
                out.append((word, []))
                continue
            prev = words[i - 1] if i else ("", "")
            nxt = words[i + 1] if i + 1 < len(words) else ("", "")
            syllables = self._fixed(word, tag, prev, nxt)
            if not syllables:
                syllables = self._reading(word)
                if len(syllables) == len(word):
                    syllables = self._sandhi.modified_tone(word, tag, syllables)
            out.append((word, syllables))
        return out

    def __call__(self, text: str) -> str:
        from misaki.zh import ZHG2P

        if not text.strip():
            return ""
        text = ZHG2P.map_punctuation(text)
        pieces = []
        for word, syllables in self.pinyin(text):
            if syllables:
                pieces.append(" " + "".join(ZHG2P.py2ipa(s) for s in syllables))
            else:
                pieces.append(word)
        return re.sub(r" +", " ", "".join(pieces)).replace(chr(815), "").strip()
