"""Words at the start of a sentence that move the story to another time or place: a good place for a new shot."""

from __future__ import annotations

import re

_ZH_NUMBER = "[一二两三四五六七八九十百千几数多半\\d]+"
_ZH_SCENE = re.compile(
    "(?:清晨|早晨|早上|一早|黎明|天亮|天刚亮|拂晓|上午|中午|正午|午后|下午|傍晚|黄昏|入夜|晚上|夜里|夜晚|深夜|半夜|午夜|凌晨"
    "|第二天|次日|翌日|隔天|第二年|次年|当晚|当天晚上|那天晚上|那天夜里|那天早上|那天下午|那一夜|那一晚|那一年|那年|那天"
    "|这天|这一天|有一天|一天|某天|后来|不久|不久后|多年以后|多年后|许多年后|很多年以后|很多年后"
    "|与此同时|同一时间|同一时刻|另一边|另一头|回到|"
    f"{_ZH_NUMBER}(?:天|日|周|星期|个星期|个月|月|年|小时|个小时|分钟|个钟头)(?:后|以后|之后|过去了|过去))"
)
_EN_SCENE = re.compile(
    r"(?:later|meanwhile|afterwards?|elsewhere|soon after|the day after|at last"
    r"|(?:that|this|the same|one|early one|late one|one (?:cold|warm|winter|summer|spring|autumn|rainy|stormy|dark|bright))"
    r" (?:night|evening|morning|afternoon|day|dawn|winter|summer|spring|autumn|year)"
    r"|(?:the )?(?:next|following) (?:day|morning|night|evening|week|month|year|spring|summer|autumn|winter)"
    r"|in the (?:morning|evening|afternoon|night)|early (?:the next morning|in the morning|next morning)"
    r"|at (?:dawn|dusk|noon|midnight|night|sunrise|sunset|daybreak)|by (?:nightfall|morning|noon|dawn|evening)"
    r"|(?:(?:\w+|a few|several|many) )?(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?) (?:later|passed)"
    r"|back (?:at|in|home)|when (?:morning|night|dawn|evening) came)\b",
    re.IGNORECASE,
)
_LEADING_MARKS = re.compile(r"^[\s\"'“‘「『（(【《—-]+")


def opens_scene(sentence: str) -> bool:
    """Whether ``sentence`` begins with a change of time or place (清晨 / 第二天 / That night / Meanwhile)."""
    start = _LEADING_MARKS.sub("", sentence)
    return bool(_ZH_SCENE.match(start) or _EN_SCENE.match(start))
