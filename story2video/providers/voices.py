"""Choosing a character's voice from its hints out of a backend's table of voices.

A table maps keys to voices in order of preference. Keys: ``female``, ``male``, ``any`` (for a
character of unknown gender), an age (``child``, ``young``, ``adult``, ``old``) or a timbre class
(``deep``, ``bright``), alone or after a gender (``female-child``, ``male-deep``). The most specific
keys are tried first; a voice already taken (the narrator's, an earlier character's) is passed over
while the table has another for that gender, so two characters of one gender still differ.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from story2video.providers.base import VoiceHints

GENDERS = ("female", "male")
AGES = ("child", "young", "adult", "old")
TIMBRES = ("deep", "bright")
TABLE_KEYS = frozenset(
    ["any", *GENDERS, *AGES, *TIMBRES]
    + [f"{gender}-{kind}" for gender in GENDERS for kind in (*AGES, *TIMBRES)]
)
VoiceTable = Mapping[str, Sequence[str]]

# Words of a free timbre description that point to a low or a high voice.
_DEEP_WORDS = ("deep", "low", "husky", "gravel", "raspy", "hoarse", "bass", "低沉", "沙哑", "浑厚", "磁性", "粗")
_BRIGHT_WORDS = ("bright", "high", "sweet", "light", "clear", "crisp", "清脆", "甜", "明亮", "尖", "清亮")


def timbre_class(timbre: str) -> str:
    """``deep``, ``bright`` or "" for free words such as "warm, husky"."""
    words = timbre.lower()
    if any(word in words for word in _DEEP_WORDS):
        return "deep"
    if any(word in words for word in _BRIGHT_WORDS):
        return "bright"
    return ""


def table_problem(table: Mapping[str, Sequence[str]]) -> str | None:
    """What is wrong with a voice table from the settings, or None."""
    unknown = sorted(set(table) - TABLE_KEYS)
    if unknown:
        return f"unknown keys {unknown}; use {', '.join(sorted(TABLE_KEYS))}"
    empty = sorted(key for key, voices in table.items() if not voices or not all(str(v).strip() for v in voices))
    if empty:
        return f"the keys {empty} need a list of voice names"
    if not any(table.get(key) for key in ("any", *GENDERS)):
        return "name voices for at least one of 'female', 'male' or 'any'"
    return None


def candidates(table: VoiceTable, hints: VoiceHints) -> list[str]:
    """The voices that fit ``hints``, best first, without repeats."""
    kinds = [kind for kind in (hints.age, timbre_class(hints.timbre)) if kind]
    if hints.gender in GENDERS:
        keys = [f"{hints.gender}-{kind}" for kind in kinds] + [hints.gender]
    else:
        keys = kinds + ["any", *GENDERS]
    found: list[str] = []
    for key in keys:
        found.extend(voice for voice in table.get(key, ()) if voice not in found)
    if not found:  # a table without this gender: any voice it has
        for voices in table.values():
            found.extend(voice for voice in voices if voice not in found)
    return found


def pick_voice(table: VoiceTable, hints: VoiceHints, taken: Collection[str]) -> str:
    """The first fitting voice not taken; when all are taken, they are reused in turn."""
    fitting = candidates(table, hints)
    if not fitting:
        raise ValueError("the voice table is empty")
    for voice in fitting:
        if voice not in taken:
            return voice
    return fitting[len(taken) % len(fitting)]
