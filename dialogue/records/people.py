"""Names, addresses and zip codes in English and Chinese text: the language-dependent rules of
`dialogue.records.pii`."""

from __future__ import annotations

import re

_I = re.IGNORECASE


# addresses: the shapes of dialogue.lm.redact before this module, plus lowercase ones after a cue
_STREET_SUFFIX = (
    r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|way|court|ct|place|pl|"
    r"terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl"
)
_NAME_WORD = r"(?:[A-Z][A-Za-z'-]*|[0-9]+(?:st|nd|rd|th))"  # "Sunset", "1st"; not "shirts"
_UNIT = r"(?:,?[ \t]*(?i:suite|ste\.?|apt\.?|apartment|unit|floor|fl\.?|#)[ \t]*[A-Za-z0-9-]+)"
_CITY_STATE_ZIP = (
    r"(?:(?:,[ \t]*|[ \t]{2,})[A-Za-z][A-Za-z .'-]{1,30}?,[ \t]*[A-Za-z]{2}[ \t]*,?[ \t]*[0-9]{5}(?:-[0-9]{4})?"
    r"(?:,[ \t]*(?:USA|US|United States))?)"
)
_ADDRESS_TAIL = r")\b(?:\.(?=[ \t]*,|[ \t]+[A-Za-z0-9]))?" + _UNIT + "?" + _CITY_STATE_ZIP + "?"
_ADDRESS_EN = re.compile(
    r"(?<![0-9A-Za-z])[0-9]{1,6}[ \t]+(?:"
    + _NAME_WORD
    + r"[ \t]+){1,3}(?i:"
    + _STREET_SUFFIX
    + _ADDRESS_TAIL
)
_ADDRESS_EN_CUED = re.compile(
    r"(?i:(?:live|located|address(?:[ \t]+is)?|ship(?:ped)?(?:[ \t]+it)?|deliver(?:ed)?(?:[ \t]+it)?|send[ \t]+it)[ \t]+(?:at|to|is)?[ \t]*)"
    r"(?P<v>[0-9]{1,6}[ \t]+(?i:[a-z0-9'-]+[ \t]+){1,3}(?i:" + _STREET_SUFFIX + _ADDRESS_TAIL + ")"
)
_HAN = r"(?:(?![我你您他她们在住是的了到寄送址为和从往去至于来请把]|地址)[\u4e00-\u9fff])"
_ADDRESS_ZH = re.compile(
    r"(?:" + _HAN + r"{1,5}(?:省|自治区))?(?:" + _HAN + r"{1,5}市)?(?:" + _HAN + r"{1,5}(?:区|县))?"
    + _HAN + r"{1,8}(?:路|街|大街|大道|巷|弄|胡同)[ \t]*[0-9一二三四五六七八九十百零]+[ \t]*号"
    r"(?:[ \t]*[0-9A-Za-z一二三四五六七八九十]+[ \t]*(?:号楼|栋|幢|楼|单元|室|层))*"
)  # fmt: skip
_ZIP = re.compile(
    r"(?:(?<![A-Za-z])(?:zip(?:[ \t]*code)?|post(?:al)?[ \t]*code)|邮编|邮政编码)"
    r"[ \t]*(?:is|:|：|是|为)?[ \t]*(?P<v>[0-9]{5,6}(?:-[0-9]{4})?)(?![0-9])",
    _I,
)


def find_addresses(text: str, language: str | None) -> list[tuple[str, int, int, bool]]:
    """ADDRESS and ZIP candidates, each (type, start, end, cued), for `pii.find_pii`."""
    out = []
    if language in (None, "en"):
        out += [("ADDRESS", *m.span(), False) for m in _ADDRESS_EN.finditer(text)]
        out += [("ADDRESS", *m.span("v"), True) for m in _ADDRESS_EN_CUED.finditer(text)]
    if language in (None, "zh"):
        out += [("ADDRESS", *m.span(), False) for m in _ADDRESS_ZH.finditer(text)]
    return out + [("ZIP", *m.span("v"), True) for m in _ZIP.finditer(text)]


# names
_NAME_STOP = {
    "and", "but", "from", "calling", "speaking", "here", "with", "my", "the", "a", "an", "is",
    "i", "im", "zip", "phone", "email", "not", "just", "so", "also", "please", "on",
    "about", "at", "to", "for", "of", "in", "it", "this", "that", "your", "you", "we", "our",
    "back", "later", "tomorrow", "today", "tonight", "now", "anytime", "when", "if", "after",
    "before", "again", "asap", "maybe", "instead", "directly", "any",
}  # fmt: skip
_NOT_NAMES = {
    "sorry", "fine", "good", "okay", "ok", "calling", "looking", "trying", "going", "here", "not",
    "afraid", "happy", "sure", "still", "really", "very", "so", "just", "having", "getting",
    "the", "a", "an", "glad", "interested", "writing", "wondering", "back", "done", "new",
}  # fmt: skip
_WORD = r"[A-Za-z][A-Za-z'’-]*"
_EN_NAME_CUES = re.compile(
    r"(?<![A-Za-z])(?:my[ \t]+(?:full[ \t]+)?name[ \t]+is|my[ \t]+name'?s|the[ \t]+name[ \t]+is|name:|"
    r"call[ \t]+me|i[ \t]+am[ \t]+called|i'm[ \t]+called)[ \t]+(?P<v>"
    + _WORD
    + r"(?:[ \t]+"
    + _WORD
    + r"){0,2})",
    _I,
)
_EN_NAME_CAPS = re.compile(
    r"(?<![A-Za-z])(?:(?i:this[ \t]+is|it's|it[ \t]+is)[ \t]+(?P<a>[A-Z][a-z'’-]+(?:[ \t]+[A-Z][a-z'’-]+)?)(?=[ \t]+(?i:speaking|here|calling|from)\b)"
    r"|(?i:i'm|i[ \t]+am)[ \t]+(?P<b>[A-Z][a-z'’-]+(?:[ \t]+[A-Z][a-z'’-]+)?)(?=[ \t]*[,.!]|[ \t]+(?i:and|from|here|speaking|calling)\b|$)"
    r"|(?:Mr|Mrs|Ms|Miss|Dr)\.?[ \t]+(?P<c>[A-Z][a-z'’-]+(?:[ \t]+[A-Z][a-z'’-]+)?))"
)
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
    "戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮"
    "柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉"
)
_COMPOUND = "欧阳|司马|上官|诸葛|东方|慕容|令狐|皇甫|尉迟|长孙"
_NAME_HAN_STOP = "，。,.!?！？、 \t的了吗呢啊呀吧想要在是和跟给我你他她这那有没不就也都还会能请帮"
_HONORIFIC = r"(?:先生|女士|小姐|老师|经理|同学)"
_ZH_HAN_NAME = r"[^\s" + re.escape(_NAME_HAN_STOP) + r"\x00-\x7f]"
_ZH_NAME = re.compile(
    r"(?:我叫|我的名字(?:是|叫)|名字(?:是|叫)|本人|我姓名是|姓名[：:]?)[ \t]*(?P<a>(?:(?!" + _HONORIFIC + ")" + _ZH_HAN_NAME + r"){1,3}|[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+)?)"
    r"|(?:我是|这里是|我这边是)(?P<b>(?:" + _COMPOUND + "|[" + _SURNAMES + r"])(?:(?!" + _HONORIFIC + ")" + _ZH_HAN_NAME + r"){0,2})(?=" + _HONORIFIC + r"|[，。,.!?！？ \t]|$)"
    r"|我姓(?P<c>" + _COMPOUND + "|[" + _SURNAMES + "])"
)  # fmt: skip


def find_names(text: str, language: str | None) -> list[tuple[str, int, int, bool]]:
    """NAME candidates, each (type, start, end, cued), for `pii.find_pii`."""
    out = []
    if language in (None, "en"):
        for m in _EN_NAME_CUES.finditer(text):
            words = list(re.finditer(_WORD, m["v"]))
            keep = []
            for w in words:
                if w[0].lower().strip("'’") in _NAME_STOP:
                    break
                keep.append(w)
            if keep:
                out.append(("NAME", m.start("v"), m.start("v") + keep[-1].end(), True))
        for m in _EN_NAME_CAPS.finditer(text):
            g = next(k for k in "abc" if m[k])
            if m[g].split()[0].lower() not in _NOT_NAMES:
                out.append(("NAME", *m.span(g), True))
    if language in (None, "zh"):
        for m in _ZH_NAME.finditer(text):
            g = next(k for k in "abc" if m[k])
            out.append(("NAME", *m.span(g), True))
    return out
