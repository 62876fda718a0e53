"""A shot's tone as CosyVoice prosody: speech rate and pitch (each 0.5..2.0, 1.0 = the voice's own)."""

from __future__ import annotations

from dataclasses import dataclass

MIN_FACTOR, MAX_FACTOR = 0.5, 2.0


@dataclass(frozen=True)
class Prosody:
    rate: float = 1.0
    pitch: float = 1.0


_TONES: dict[str, Prosody] = {
    "joyful": Prosody(1.08, 1.06), "欢快": Prosody(1.08, 1.06), "happy": Prosody(1.08, 1.06), "开心": Prosody(1.08, 1.06),
    "tense": Prosody(1.1, 1.02), "紧张": Prosody(1.1, 1.02), "exciting": Prosody(1.1, 1.04), "激动": Prosody(1.1, 1.04),
    "calm": Prosody(0.95, 1.0), "平静": Prosody(0.95, 1.0), "peaceful": Prosody(0.95, 1.0), "宁静": Prosody(0.95, 1.0),
    "warm": Prosody(0.97, 1.0), "温暖": Prosody(0.97, 1.0), "温馨": Prosody(0.97, 1.0),
    "sad": Prosody(0.9, 0.95), "悲伤": Prosody(0.9, 0.95), "忧伤": Prosody(0.9, 0.95),
    "mysterious": Prosody(0.92, 0.96), "神秘": Prosody(0.92, 0.96),
}


def prosody_for(tone: str, speed: float) -> Prosody:
    """The tone's prosody (neutral for an unknown tone), with the render's ``speed`` applied to the rate."""
    base = _TONES.get(tone.strip().lower(), Prosody())
    return Prosody(rate=_clamp(base.rate * speed), pitch=_clamp(base.pitch))


def _clamp(value: float) -> float:
    return round(min(MAX_FACTOR, max(MIN_FACTOR, value)), 3)
