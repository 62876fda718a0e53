"""The mood of a shot, guessed from weighted words of grief, death, fear, tension, joy, warmth, calm and
mystery, in Chinese and English. A negated word ("不害怕", "not happy") does not count for its mood and
counts a little for the opposite one; a shot that speaks of death is never joyful.

The moods are the six the speech backends know (calm, tense, joyful, sad, mysterious, warm); "neutral"
is what is left when no word speaks for any of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TONES = ("tense", "sad", "mysterious", "joyful", "warm", "calm")  # the order breaks ties
NEUTRAL = "neutral"


@dataclass(frozen=True)
class _Cue:
    tone: str
    weight: float
    death: bool = False


_DEATH = _Cue("sad", 3.0, death=True)
_ZH_WORDS: dict[str, _Cue] = {}
_EN_WORDS: dict[str, _Cue] = {}


def _add(table: dict[str, _Cue], words: str, cue: _Cue) -> None:
    for word in words.split():
        table[word] = cue


_add(
    _ZH_WORDS,
    "死 死了 死去 去世 离世 逝世 病逝 过世 身亡 遇难 丧生 牺牲 葬礼 出殡 遗像 遗体 遗照 灵堂 坟 坟墓 墓碑 哀悼 悼念 "
    "没有了呼吸 停止了呼吸 断了气 咽气 闭上了眼睛 再也没有醒来 再也没能醒来 永远地离开 离开了人世 不在了 永别",
    _DEATH,
)
_add(
    _ZH_WORDS,
    "哭 哭泣 哭着 大哭 痛哭 泪 泪水 眼泪 流泪 含着泪 哽咽 悲伤 悲痛 伤心 难过 心碎 心痛 痛苦 绝望 孤独 孤单 寂寞 "
    "思念 想念 失去 告别 诀别 叹息 叹了口气 空落落 落寞 凄凉 苦笑 红着眼睛 红了眼眶",
    _Cue("sad", 2.0),
)
_add(_ZH_WORDS, "再见 离别 沉默 阴沉", _Cue("sad", 1.0))
_add(
    _ZH_WORDS,
    "害怕 恐惧 惊恐 恐慌 惊慌 吓 吓坏 吓得 颤抖 发抖 尖叫 惊叫 毛骨悚然 不寒而栗 胆战心惊 怕",
    _Cue("tense", 2.0),
)
_add(
    _ZH_WORDS,
    "突然 猛地 忽然 危险 追赶 追杀 逃跑 逃命 大喊 急忙 冲向 冲进 枪 枪声 爆炸 鲜血 流血 屏住呼吸 心跳加速 慌 慌忙 "
    "狂风 暴雨 雷声 闪电 撞开 撞 搏斗 厮杀 冷笑 怒吼 怒 紧张 警报",
    _Cue("tense", 1.5),
)
_add(
    _ZH_WORDS,
    "开心 高兴 快乐 欢笑 大笑 哈哈 笑声 欢呼 庆祝 兴奋 跳舞 唱歌 欢快 喜悦 雀跃 蹦蹦跳跳 拍着手 拍手 欢喜 乐呵呵 笑嘻嘻 "
    "热闹 笑话",
    _Cue("joyful", 1.5),
)
_add(_ZH_WORDS, "笑 笑着 笑了 笑得", _Cue("joyful", 0.7))
_add(
    _ZH_WORDS,
    "温暖 暖暖 暖洋洋 温馨 拥抱 抱住 微笑 爱 感谢 谢谢 陪伴 陪着 照顾 团聚 回家 亲切 热气腾腾 温柔 关心",
    _Cue("warm", 1.5),
)
_add(
    _ZH_WORDS,
    "安静 平静 宁静 静静 静谧 微风 慢慢 缓缓 轻轻 悠闲 悠然 从容 安详 柔和 清风 轻柔",
    _Cue("calm", 1.0),
)
_add(
    _ZH_WORDS,
    "神秘 奇怪 秘密 诡异 影子 黑影 雾 浓雾 传说 未知 低语 幽暗 幽灵 鬼 古老 谜 梦见 梦境 月光",
    _Cue("mysterious", 1.5),
)
_add(_ZH_WORDS, "黑暗 昏暗 夜色", _Cue("mysterious", 1.0))
_add(_ZH_WORDS, "阳光 晴朗", _Cue("joyful", 1.0))
_add(_ZH_WORDS, "睡着 熟睡 入睡", _Cue("calm", 1.0))

_add(
    _EN_WORDS,
    "die dies died dying dead death deaths funeral grave graves coffin buried burial mourn mourned mourning corpse "
    "passed_away breathed_his_last breathed_her_last never_woke_up killed",
    _DEATH,
)
_add(
    _EN_WORDS,
    "cry cries cried crying tears tearful wept weep weeping sob sobbed sobbing grief grieve grieved grieving "
    "sorrow sad sadly sadness heartbroken lonely loneliness despair farewell goodbye sigh sighed",
    _Cue("sad", 2.0),
)
_add(_EN_WORDS, "lost alone missed silence silent gloomy", _Cue("sad", 1.0))
_add(
    _EN_WORDS,
    "afraid fear feared fearful terrified terror scared frightened panic panicked horror horrified tremble trembled "
    "trembling scream screamed screaming shiver shivered",
    _Cue("tense", 2.0),
)
_add(
    _EN_WORDS,
    "sudden suddenly danger dangerous chase chased chasing flee fled fleeing shout shouted shouting gun guns gunshot "
    "explosion exploded blood bloody crash crashed crashing rush rushed storm thunder attack attacked fight fought "
    "held_his_breath held_her_breath heart_pounding tense alarm",
    _Cue("tense", 1.5),
)
_add(
    _EN_WORDS,
    "laugh laughed laughing laughter happy happily happiness joy joyful joyfully dance danced dancing sing sang singing "
    "song celebrate celebrated celebration excited exciting cheer cheered cheering delight delighted grin grinned "
    "giggle giggled hooray glee cheerful",
    _Cue("joyful", 1.5),
)
_add(
    _EN_WORDS,
    "warm warmth hug hugged embrace embraced love loved loving smile smiled smiling together thank thanked thanks "
    "gentle gently kind kindness home cozy tender",
    _Cue("warm", 1.5),
)
_add(
    _EN_WORDS,
    "quiet quietly calm calmly peace peaceful peacefully breeze slow slowly serene rest rested softly",
    _Cue("calm", 1.0),
)
_add(
    _EN_WORDS,
    "mystery mysterious strange strangely secret secrets shadow shadows mist misty fog foggy ancient legend unknown "
    "whisper whispered whispering eerie ghost ghostly moonlight dream dreamed",
    _Cue("mysterious", 1.5),
)
_add(_EN_WORDS, "dark darkness gloom", _Cue("mysterious", 1.0))
_add(_EN_WORDS, "sunshine sunny sunlight", _Cue("joyful", 1.0))
_add(_EN_WORDS, "asleep sleep slept sleeping", _Cue("calm", 1.0))

_OPPOSITE = {"joyful": "sad", "tense": "calm", "calm": "tense", "warm": "sad"}
_NEGATED_SHARE = 0.5
_PUNCTUATION = (("！", "tense", 0.3), ("!", "tense", 0.3), ("……", "sad", 0.3), ("...", "sad", 0.3))

_ZH_PATTERN = re.compile("|".join(sorted(map(re.escape, _ZH_WORDS), key=len, reverse=True)))
_EN_PATTERN = re.compile(
    r"\b(?:" + "|".join(sorted((stem.replace("_", r"\s+") for stem in _EN_WORDS), key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_ZH_NEGATION = re.compile("不|没|别|未|无|非")
_ZH_NOT_NEGATION = re.compile(
    "不停|不断|不住|不禁|不由|不已|不知不觉|忍不住|禁不住|止不住|无比|无限"
    "|非常|不久|不少|不错|不过|不管|无论|无数|不同|不仅|不但|不一会"
)
_ZH_CLAUSE_END = re.compile("[，。！？；：、,.!?;:\n“”「」]")
_ZH_NEGATION_REACH = 3  # characters before a word, in its clause
_EN_NEGATION = re.compile(r"\b(?:not|no|never|nothing|nobody|without|hardly|barely|neither|nor)\b|n't\b", re.IGNORECASE)
_EN_NOT_NEGATION = re.compile(r"(?:can(?:no|')t|could(?:n't| not)|would(?:n't| not)) (?:stop|help)", re.IGNORECASE)
_EN_CLAUSE_END = re.compile(r"[,.!?;:\"“”\n]")
_EN_NEGATION_REACH = 5  # words before a word, in its clause: "not afraid of the storm"


def guess_tone(narration: str) -> str:
    """One of ``TONES``, or ``NEUTRAL`` when nothing in the narration speaks for a mood."""
    scores = dict.fromkeys(TONES, 0.0)
    death = False
    for match in _ZH_PATTERN.finditer(narration):
        cue = _ZH_WORDS[match.group()]
        death |= _count(scores, cue, _zh_negated(narration, match.start()))
    for match in _EN_PATTERN.finditer(narration):
        cue = _EN_WORDS[re.sub(r"\s+", "_", match.group().lower())]
        death |= _count(scores, cue, _en_negated(narration, match.start()))
    for mark, tone, weight in _PUNCTUATION:
        scores[tone] += weight * narration.count(mark)
    if death:
        scores["joyful"] = 0.0  # a death scene is never joyful
    best = max(TONES, key=lambda tone: (scores[tone], -TONES.index(tone)))
    return best if scores[best] > 0 else NEUTRAL


def _count(scores: dict[str, float], cue: _Cue, negated: bool) -> bool:
    """Adds the cue to the scores; True when it speaks of a death that is not denied."""
    if not negated:
        scores[cue.tone] += cue.weight
        return cue.death
    opposite = _OPPOSITE.get(cue.tone)
    if opposite:
        scores[opposite] += _NEGATED_SHARE * cue.weight
    return False


def _zh_negated(text: str, start: int) -> bool:
    before = _ZH_CLAUSE_END.split(text[max(0, start - 8) : start])[-1]
    before = _ZH_NOT_NEGATION.sub("", before)[-_ZH_NEGATION_REACH:]
    return bool(_ZH_NEGATION.search(before))


def _en_negated(text: str, start: int) -> bool:
    clause = _EN_CLAUSE_END.split(text[max(0, start - 80) : start])[-1]
    words = clause.split()[-_EN_NEGATION_REACH:]
    before = _EN_NOT_NEGATION.sub("", " ".join(words))
    return bool(_EN_NEGATION.search(before))
