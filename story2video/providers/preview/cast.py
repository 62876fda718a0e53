"""The preview storyboard's cast, by rules: named speakers of quoted speech become characters, each
quotation becomes a line of its speaker, and every character gets a fixed look and voice hints.

Speakers are found from attributions next to a quotation (张明说：“……” / “……”小红问道 / Tom said, "..." /
"...," asked Anna). A pronoun attribution (她说 / she asked) goes to the last named character of
that gender. A quotation whose speaker cannot be told stays the narrator's.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from story2video.castfields import NARRATOR
from story2video.providers.base import CharacterDraft, Line
from story2video.providers.preview.text import EN_SPEECH_VERBS

_QUOTE = re.compile(r"“([^”]+)”|「([^」]+)」|\"([^\"]+)\"")
_ZH_VERBS = "说|问|道|喊|叫|答|嚷|吼|叹|骂|劝|低语|嘀咕|喃喃"
_ZH_MANNER = "(?:[\u4e00-\u9fff]{0,4}?地|笑着|哭着|轻声|大声|低声|小声|急忙|连忙|忍不住|对[\u4e00-\u9fff]{1,3}|向[\u4e00-\u9fff]{1,3}|跟[\u4e00-\u9fff]{1,3})*"
_ZH_NAME = "[\u4e00-\u9fff]{2,3}?"
_ZH_BEFORE = re.compile(f"(?:^|[。！？；，,\\s”」])({_ZH_NAME}){_ZH_MANNER}(?:{_ZH_VERBS})+[道着]?[：:，,]?\\s*$")
_ZH_AFTER = re.compile(f"^\\s*({_ZH_NAME}){_ZH_MANNER}(?:{_ZH_VERBS})")
_ZH_BEFORE_ANYWHERE = re.compile(f"({_ZH_NAME}){_ZH_MANNER}(?:{_ZH_VERBS})")
_ZH_SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔汤"
_ZH_ATTRIBUTION_CHARS = 8
_ZH_PRONOUNS = {"她": "female", "他": "male"}
_ZH_NOT_NAMES = set("我你您它咱们这那谁大家") | {"有人", "众人", "大家", "人们", "所有人"}
_EN_NAME = r"((?:Mr\.|Mrs\.|Ms\.|Miss|Dr\.|Old|Little|Uncle|Aunt|Grandma|Grandpa)?\s?[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)"
_EN_VERB = "(?:" + "|".join(sorted(EN_SPEECH_VERBS)) + ")"
_EN_BEFORE = re.compile(rf"{_EN_NAME}\s+{_EN_VERB}(?:\s+\w+ly)?\s*[,:]?\s*$")
_EN_AFTER_VERB_FIRST = re.compile(rf"^\s*{_EN_VERB}\s+{_EN_NAME}")
_EN_AFTER_NAME_FIRST = re.compile(rf"^\s*{_EN_NAME}\s+{_EN_VERB}")
_EN_PRONOUN_AFTER = re.compile(rf"^\s*(she|he)\s+{_EN_VERB}", re.IGNORECASE)
_EN_PRONOUN_BEFORE = re.compile(rf"\b(She|He|she|he)\s+{_EN_VERB}\s*[,:]?\s*$")
_EN_NOT_NAMES = {"The", "Then", "And", "But", "When", "She", "He", "They", "It", "We", "I", "You", "One", "Someone", "Everyone"}

_EN_FEMALE = set(
    "Anna Mary Lily Emma Sarah Alice Lucy Jane Kate Grace Sophie Mia Olivia Ella Rose Amy Linda Susan Helen Laura "
    "Emily Hannah Chloe Zoe Julia Nora Clara Maria Eva Ruth Lisa Nina Mei Ling".split()
)
_EN_MALE = set(
    "Tom John Jack James Sam Ben Max Leo Peter Paul David Mike Tim Bob Joe Harry Henry George Mark Luke Adam Noah "
    "Oliver Daniel Frank Carl Eric Ivan Hugo Oscar Victor Wei Ming".split()
)
_ZH_FEMALE_MARKS = set("红丽娟芳娜美婷雪玲燕霞梅兰花莉萍琳静怡妹姐娘妈奶姑婆嫂")
_ZH_MALE_MARKS = set("刚强伟军勇杰涛斌龙虎峰哥弟爸爷叔伯公")


@dataclass
class _Character:
    id: str
    name: str
    gender: str
    age: str


class CastReader:
    """Reads the shots in order; remembers the characters met so far and the names mentioned, so that
    a pronoun attribution goes to the last person of that gender the story named."""

    def __init__(self, language: str, script: str):
        self.language = language
        self.characters: dict[str, _Character] = {}  # by name
        self._candidates = _candidate_names(script, language)
        self._history = ""

    def lines_of(self, narration: str) -> tuple[Line, ...]:
        pieces: list[Line] = []
        position, previous = 0, NARRATOR
        for match in _QUOTE.finditer(narration):
            gap = narration[position : match.start()]
            speaker = self._speaker(self._history + narration[: match.start()], narration[match.end() :])
            if speaker == NARRATOR and previous != NARRATOR and _only_attribution(gap, self.language):
                speaker = previous  # “……”他说，“……” — the same speaker goes on
            _append(pieces, NARRATOR, gap)
            _append(pieces, speaker, next(group for group in match.groups() if group is not None))
            position, previous = match.end(), speaker
        _append(pieces, NARRATOR, narration[position:])
        self._history += narration + "\n"
        return tuple(pieces)

    def present_in(self, narration: str, lines: tuple[Line, ...]) -> tuple[str, ...]:
        speakers = {line.speaker for line in lines}
        return tuple(
            character.id
            for character in self.characters.values()
            if character.id in speakers or character.name in narration
        )

    def cast(self) -> list[CharacterDraft]:
        return [_draft(character, self.language, order) for order, character in enumerate(self.characters.values())]

    def _speaker(self, before: str, after: str) -> str:
        name = self._named(before, after)
        if name is None:
            gender = self._pronoun(before, after)
            name = self._last_named(before, gender) if gender else None
        return self._meet(name, before + after).id if name else NARRATOR

    def _named(self, before: str, after: str) -> str | None:
        if self.language == "zh":
            for match in (_ZH_AFTER.match(after), _ZH_BEFORE.search(before)):
                if match and _plausible_zh_name(match.group(1)):
                    return match.group(1)
            return self._sentence_subject(before)
        for match in (_EN_AFTER_VERB_FIRST.match(after), _EN_AFTER_NAME_FIRST.match(after), _EN_BEFORE.search(before)):
            if match and match.group(1).strip() not in _EN_NOT_NAMES:
                return match.group(1).strip()
        return None

    def _sentence_subject(self, before: str) -> str | None:
        """小红转过身，笑着说：“……” — the attribution has no name of its own; the sentence's subject speaks."""
        if not re.search(f"(?:{_ZH_VERBS})[道着]?[：:，,]?\\s*$", before):
            return None
        sentence = re.split(r"[。！？”」\n]", before)[-1].lstrip()
        return next((name for name in self._candidates if sentence.startswith(name)), None)

    def _pronoun(self, before: str, after: str) -> str:
        if self.language == "zh":
            found = re.match(f"^\\s*([她他]){_ZH_MANNER}(?:{_ZH_VERBS})", after) or re.search(
                f"([她他]){_ZH_MANNER}(?:{_ZH_VERBS})+[道着]?[：:，,]?\\s*$", before
            )
            return _ZH_PRONOUNS[found.group(1)] if found else ""
        found = _EN_PRONOUN_AFTER.match(after) or _EN_PRONOUN_BEFORE.search(before)
        return ("female" if found.group(1).lower() == "she" else "male") if found else ""

    def _last_named(self, before: str, gender: str) -> str | None:
        mentioned = [
            (before.rfind(name), name)
            for name in {*self._candidates, *self.characters}
            if name in before and self._gender_of(name, before) == gender
        ]
        return max(mentioned)[1] if mentioned else None

    def _gender_of(self, name: str, context: str) -> str:
        known = self.characters.get(name)
        return known.gender if known else _guess_gender(name, context, self.language)

    def _meet(self, name: str, context: str) -> _Character:
        character = self.characters.get(name)
        if character is None:
            gender = _guess_gender(name, context, self.language)
            character = _Character(_character_id(name, len(self.characters)), name, gender, _guess_age(name, self.language))
            self.characters[name] = character
        return character


def _only_attribution(gap: str, language: str) -> bool:
    if language == "zh":
        return len(re.sub(r"\W", "", gap)) <= _ZH_ATTRIBUTION_CHARS and bool(re.search(_ZH_VERBS, gap))
    return len(gap.split()) <= 4 and bool(re.search(rf"\b{_EN_VERB}\b", gap))


def _candidate_names(script: str, language: str) -> list[str]:
    """Words of the script that look like people's names, longest first."""
    if language == "zh":
        found = set(re.findall(f"(?:^|[^\u4e00-\u9fff]|[看叫对和跟向把给见])((?:[小老阿]|[{_ZH_SURNAMES}])[\u4e00-\u9fff])", script))
        found |= {match.group(1) for match in _ZH_BEFORE_ANYWHERE.finditer(script) if _plausible_zh_name(match.group(1))}
        found = {name for name in found if script.count(name) >= 2 or name[0] in _ZH_SURNAMES}
    else:
        found = {
            match.group(1).strip()
            for match in re.finditer(_EN_NAME, script)
            if match.group(1).strip() not in _EN_NOT_NAMES and match.group(1).split()[0] not in _EN_NOT_NAMES
            and not _sentence_start(script, match.start(1))
        } | {word for word in re.findall(r"\b[A-Z][a-z]+\b", script) if word in _EN_FEMALE | _EN_MALE}
    return sorted(found, key=lambda name: (-len(name), name))


def _sentence_start(text: str, index: int) -> bool:
    return not text[:index].strip() or text[:index].rstrip()[-1] in ".!?\"“\n"


def _append(pieces: list[Line], speaker: str, text: str) -> None:
    text = text.strip()
    if not text:
        return
    if pieces and (pieces[-1].speaker == speaker or not re.search(r"\w", text)):
        pieces[-1] = Line(pieces[-1].speaker, _joined(pieces[-1].text, text))
    else:
        pieces.append(Line(speaker, text))


def _joined(first: str, second: str) -> str:
    if re.match(r"[\w\"“'‘(]", second) and re.search(r"[\w,.;:!?]$", first) and not _cjk_edge(first[-1], second[0]):
        return f"{first} {second}"
    return first + second


def _cjk_edge(left: str, right: str) -> bool:
    return bool(re.match("[\u3000-\u9fff\uff00-\uffef]", left) or re.match("[\u3000-\u9fff\uff00-\uffef]", right))


def _plausible_zh_name(name: str) -> bool:
    return name not in _ZH_NOT_NAMES and name[0] not in "我你他她它这那谁大" and name[-1] not in "着地声忙"


def _character_id(name: str, index: int) -> str:
    ascii_name = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return ascii_name[:40] if ascii_name else f"character_{index + 1}"


def _guess_gender(name: str, context: str, language: str) -> str:
    if language == "zh":
        if any(mark in name for mark in _ZH_FEMALE_MARKS) or "她" in context:
            return "female"
        if any(mark in name for mark in _ZH_MALE_MARKS) or "他" in context:
            return "male"
        return "male" if _digest(name) % 2 else "female"
    first = name.split()[-1] if name.split()[0] in {"Mr.", "Mrs.", "Ms.", "Miss", "Dr."} else name.split()[0]
    if name.startswith(("Mrs.", "Ms.", "Miss", "Aunt", "Grandma")) or first in _EN_FEMALE:
        return "female"
    if name.startswith(("Mr.", "Uncle", "Grandpa")) or first in _EN_MALE:
        return "male"
    lowered = f" {context.lower()} "
    if " she " in lowered or " her " in lowered:
        return "female"
    if " he " in lowered or " his " in lowered:
        return "male"
    return "male" if _digest(name) % 2 else "female"


def _guess_age(name: str, language: str) -> str:
    if language == "zh":
        if name.startswith("老") or any(mark in name for mark in "爷奶婆公"):
            return "old"
        return "young" if name.startswith("小") else "adult"
    if name.startswith(("Old", "Grandma", "Grandpa")):
        return "old"
    return "young" if name.startswith("Little") else "adult"


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big")


_LOOKS = {
    "en": {
        "age": {"child": "a {g} of about nine", "young": "a {g} of about twenty", "adult": "a {g} in {pos} thirties", "old": "an old {g} in {pos} seventies"},
        "noun": {"female": ("girl", "woman"), "male": ("boy", "man"), "": ("child", "person")},
        "build": ["slim", "tall and lean", "sturdy", "of medium build", "small and wiry"],
        "face": ["an oval face", "a round face", "a square jaw", "high cheekbones", "a freckled face"],
        "hair": {
            "female": ["long black hair in a ponytail", "a short brown bob", "curly auburn hair", "a long dark braid"],
            "male": ["short black hair", "tousled brown hair", "a shaved head", "dark hair combed back"],
            "": ["short black hair", "curly brown hair"],
            "old": ["thin white hair", "grey hair in a bun", "a bald head with grey temples", "short silver hair"],
        },
        "clothes": ["a red wool coat", "a grey hoodie and jeans", "a navy suit", "a green raincoat", "a white shirt and a brown vest"],
    },
    "zh": {
        "age": {"child": "九岁左右的{g}", "young": "二十岁左右的{g}", "adult": "三十多岁的{g}", "old": "七十多岁的老{g}"},
        "noun": {"female": ("女孩", "女人"), "male": ("男孩", "男人"), "": ("孩子", "人")},
        "build": ["身材纤细", "高挑清瘦", "身材结实", "中等身材", "个子不高但精干"],
        "face": ["鹅蛋脸", "圆脸", "方下巴", "高颧骨", "脸上有雀斑"],
        "hair": {
            "female": ["黑色长发扎成马尾", "棕色短发齐耳", "红棕色卷发", "乌黑的长辫"],
            "male": ["黑色短发", "蓬乱的棕发", "光头", "黑发向后梳"],
            "": ["黑色短发", "棕色卷发"],
            "old": ["稀疏的白发", "灰白头发挽成发髻", "秃顶，两鬓斑白", "银白短发"],
        },
        "clothes": ["穿红色呢子大衣", "穿灰色连帽衫和牛仔裤", "穿藏青色西装", "穿绿色雨衣", "穿白衬衫和棕色马甲"],
    },
}


def _draft(character: _Character, language: str, order: int) -> CharacterDraft:
    return CharacterDraft(
        id=character.id,
        name=character.name,
        appearance=_appearance(character, language, order),
        gender=character.gender,
        age=character.age,
        timbre=_timbre(character, language),
    )


def _appearance(character: _Character, language: str, order: int) -> str:
    """A look made from the name; the cast's first five characters never wear the same clothes."""
    looks = _LOOKS[language]
    digest = _digest(character.name)
    noun = looks["noun"][character.gender][0 if character.age == "child" else 1]
    if language == "zh" and character.age == "old":
        noun = {"female": "妇人", "male": "人"}.get(character.gender, "人")
    pronoun = {"female": "her", "male": "his"}.get(character.gender, "their")
    parts = [
        looks["age"][character.age or "adult"].format(g=noun, pos=pronoun),
        _pick(looks["build"], digest),
        _pick(looks["face"], digest >> 5),
        _pick(looks["hair"]["old" if character.age == "old" else character.gender], digest >> 10),
        _pick(looks["clothes"], order),
    ]
    if language == "zh":
        return "，".join(parts)
    return f"{parts[0]}, {parts[1]}, with {parts[2]} and {parts[3]}, wearing {parts[4]}"


_TIMBRES = {
    "en": {"old": "slow, husky", "young": "bright, quick", "male": "warm, low", "female": "clear, warm"},
    "zh": {"old": "缓慢，沙哑", "young": "明亮，轻快", "male": "温暖，低沉", "female": "清亮，温柔"},
}


def _timbre(character: _Character, language: str) -> str:
    words = _TIMBRES[language]
    if character.age == "old":
        return words["old"]
    if character.age in ("child", "young"):
        return words["young"]
    return words["male"] if character.gender == "male" else words["female"]


def _pick(options: list[str], number: int) -> str:
    return options[number % len(options)]


def character_draft(name: str, index: int, language: str, *, gender: str = "", age: str = "", context: str = "") -> CharacterDraft:
    """A character by the same rules as the storyboard's cast: a fixed look and voice hints from its name,
    with gender and age taken as given where they are known, else guessed."""
    character = _Character(
        id=_character_id(name, index),
        name=name,
        gender=gender or _guess_gender(name, context, language),
        age=age or _guess_age(name, language),
    )
    return _draft(character, language, index)
