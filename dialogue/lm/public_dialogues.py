"""Public customer-service dialogues read into `dialogue.lm.convdata` conversations.

- STC-3 (NTCIR-14, sakai-lab/stc3-dataset; annotations CC-BY-4.0): Chinese customer-helpdesk
  dialogues from Weibo (train_data_cn.json) and their human English translations
  (train_data_en.json, the same ids). A turn is {"sender": "customer"|"helpdesk", "utterances":
  [...]}; each dialogue has 19 annotations with quality scores A (task accomplishment),
  S (customer satisfaction) and E (effectiveness), from -2 to 2. Helpdesk turns become agent
  turns; the scores go to meta (each annotator's, and the mean). Weibo artefacts are removed
  lightly (`clean_weibo`): @mentions, URLs, emoticon codes ("[呵呵]") and emoji.
- ABCD (asappresearch/abcd, MIT): agent-customer chats of a clothing retailer, where the agent's
  clicks ("pull-up-account", "validate-purchase") are rows of their own. A click becomes an agent
  turn with an action {"tool": button, "args": {"values": [...]}, "result": {"message": ...}}
  and the agent's next words; meta carries the flow and, from guidelines.json, the agent
  guidelines of its subflow (the knowledge the agent was given).

Both raise `ConvDataError` naming the file and the record when the file is not what they expect.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from statistics import mean
from typing import Any

from dialogue.lm.convdata import ConvDataError, Conversation, ConvTurn, TurnAction

_URL = re.compile(
    r"(?:我在这里[:：]?[ \t]*)?(?:https?://[A-Za-z0-9./?=&_%#~+:-]*|(?<![A-Za-z0-9])t\.cn/[A-Za-z0-9]+)"
)
_MENTION_ZH = re.compile(r"@[^\s@,，.。:：;；!！?？、()（）\[\]]{1,30}")
# English translations write a handle as words ("@ China Unicom Customer Service"), so where it
# ends is a guess: a run of mentions at the end goes, a handle ending in a word such as "Service"
# goes, and elsewhere only the "@" goes (the words stay: losing a sentence is worse).
_MENTION_EN = re.compile(
    r"(?<=[^\s@])(?:[ \t]+@[^@.?!:：\n]{0,60})+$"
    r"|(?<![\w.])@[ \t]?(?:[\w.&'-]+[ \t]){0,6}?(?:Customer Service|Customer Care|Service|Support"
    r"|Microblog|Business Hall|Hall|Assistant|Team|Center|Centre|Official)\b"
    r"|(?<![\w.])@[ \t]?"
)
_EMOTICON_ZH = re.compile(
    r"\[[\u4e00-\u9fffA-Za-z]{0,7}[\u4e00-\u9fff][\u4e00-\u9fffA-Za-z]{0,7}\]"
)
_EMOTICON_EN = re.compile(
    r"\[(?:ha[ -]?ha|ho[ -]?ho|lol|hehe|angry|snarl|hug|great|awesome)\]", re.IGNORECASE
)
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d\ufffd]+")


def clean_weibo(text: str, language: str, counts: Counter | None = None) -> str:
    """Remove Weibo artefacts: URLs (and the "我在这里:" location share before them), @mentions,
    emoticon codes and emoji runs; then squeeze spaces. `counts` (if given) is told how many of
    each kind went."""
    rules = [
        ("urls", _URL),
        ("mentions", _MENTION_ZH if language == "zh" else _MENTION_EN),
        ("emoticons", _EMOTICON_ZH if language == "zh" else _EMOTICON_EN),
        ("emoji", _EMOJI),
    ]
    for kind, pattern in rules:
        text, n = pattern.subn(" " if kind == "mentions" else "", text)
        if counts is not None and n:
            counts[kind] += n
    text = re.sub(r"[ \t\u3000]{2,}", " ", text)
    return text.strip(" \t\u3000,，")


def _load(path: Path, kind: type) -> Any:
    if not path.is_file():
        raise ConvDataError(f"{path}: file not found; pass --data with the shared data folder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConvDataError(
            f"{path}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None
    if not isinstance(data, kind):
        raise ConvDataError(f"{path}: expected a JSON {kind.__name__}, got {type(data).__name__}")
    return data


def _merge(turns: list[ConvTurn], role: str, text: str) -> None:
    """Append a text turn, joining it to the last turn when that has the same speaker."""
    last = turns[-1] if turns else None
    if last is not None and last.role == role:
        joined = f"{last.text}\n{text}" if last.text else text
        turns[-1] = ConvTurn(role, joined, action=last.action)
    else:
        turns.append(ConvTurn(role, text))


def read_stc3(path: str | Path, language: str, counts: Counter | None = None) -> list[Conversation]:
    """STC-3 dialogues of one file; `counts` gets the cleaning counts and "skipped: <why>"."""
    path = Path(path)
    counts = Counter() if counts is None else counts
    out = []
    for n, d in enumerate(_load(path, list)):
        where = f"{path}: dialogue {n}"
        if not isinstance(d, dict) or not isinstance(d.get("turns"), list) or "id" not in d:
            raise ConvDataError(f"{where}: expected an object with id and turns (see index.md)")
        turns: list[ConvTurn] = []
        for t in d["turns"]:
            if not isinstance(t, dict) or t.get("sender") not in ("customer", "helpdesk"):
                raise ConvDataError(f"{where}: a turn needs sender 'customer' or 'helpdesk'")
            said = [clean_weibo(u, language, counts) for u in t.get("utterances", []) if isinstance(u, str)]  # fmt: skip
            text = "\n".join(u for u in said if u)
            if text:
                _merge(turns, "customer" if t["sender"] == "customer" else "agent", text)
        if not any(t.role == "agent" for t in turns) or not any(t.role == "customer" for t in turns):  # fmt: skip
            counts["skipped: no customer or no helpdesk text left"] += 1
            continue
        scores = {k: [a["quality"][k] for a in d.get("annotations", []) if k in a.get("quality", {})] for k in "ASE"}  # fmt: skip
        meta = {
            "group": f"stc3:{d['id']}",  # the English version of a dialogue shares its id
            "source_id": str(d["id"]),
            "quality_mean": {k: round(mean(v), 3) for k, v in scores.items() if v},
            "quality": scores,
        }
        out.append(Conversation(f"stc3-{language}-{d['id']}", "stc3", language, turns, meta))
    return out


def _tokens(name: str) -> set[str]:
    return set(re.findall(r"[a-z]+", name.lower())) - {"due", "to", "faq", "of"}


def _guidelines(guidelines: dict, flow: str, subflow: str) -> list[str]:
    """The agent guidelines of a subflow: "[Button] text: subtext; subtext" lines."""
    flows = {re.sub(r"[^a-z]+", "_", k.lower()): v for k, v in guidelines.items()}
    subflows = (flows.get(flow) or {}).get("subflows", {})
    want = _tokens(re.sub(r"_\d+$", "", subflow))
    scored = [(len(want & _tokens(k)) / len(want | _tokens(k)), k) for k in subflows]
    best = max(scored, default=(0, None))
    if not best[0]:
        return []
    g = subflows[best[1]]
    lines = [
        f"[{a.get('button', '')}] {a.get('text', '')}"
        + ("" if not a.get("subtext") else ": " + "; ".join(a["subtext"]))  # fmt: skip
        for a in g.get("actions", [])
    ]
    return lines + list(g.get("instructions", []))


def read_abcd(path: str | Path, guidelines_path: str | Path | None = None) -> list[Conversation]:
    """ABCD chats (abcd_sample.json's shape: convo_id, scenario, original, delexed)."""
    path = Path(path)
    guidelines = _load(Path(guidelines_path), dict) if guidelines_path else {}
    out = []
    for n, c in enumerate(_load(path, list)):
        where = f"{path}: conversation {n}"
        if not isinstance(c, dict) or not isinstance(c.get("original"), list):
            raise ConvDataError(f"{where}: expected an object with 'original' [speaker, text] rows")
        delexed = c.get("delexed") or [{}] * len(c["original"])
        if len(delexed) != len(c["original"]):
            raise ConvDataError(f"{where}: 'delexed' has {len(delexed)} rows, 'original' {len(c['original'])}")  # fmt: skip
        turns: list[ConvTurn] = []
        for row, lex in zip(c["original"], delexed, strict=True):
            speaker, text = row[0], str(row[1]).strip()
            if speaker == "action":
                target = lex.get("targets") or [None, None, "action", []]
                action = TurnAction(str(target[2]), {"values": list(target[3] or [])}, {"message": text})  # fmt: skip
                turns.append(ConvTurn("agent", "", action=action))
            elif speaker in ("agent", "customer") and text:
                _merge(turns, speaker, text)
            elif speaker not in ("agent", "customer", "action"):
                raise ConvDataError(f"{where}: speaker {speaker!r} is not agent, customer or action")  # fmt: skip
        scenario = c.get("scenario", {})
        flow, subflow = scenario.get("flow", ""), scenario.get("subflow", "")
        meta = {"group": f"abcd:{c.get('convo_id', n)}", "source_id": str(c.get("convo_id", n)),
                "flow": flow, "subflow": subflow, "toolset": "abcd"}  # fmt: skip
        if guidelines:
            meta["guidelines"] = _guidelines(guidelines, flow, subflow)
        out.append(Conversation(f"abcd-{meta['source_id']}", "abcd", "en", turns, meta))
    return out
