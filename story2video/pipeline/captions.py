"""A shot's subtitle cues from its narration artifact: one run of cues per spoken line, so a cue never
holds two speakers, timed by the words the speech backend reported (else in proportion to length),
and showing who speaks as SUBTITLE_SPEAKERS says: a name prefix, a colour per character, or nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace

from story2video.castfields import NARRATOR
from story2video.media.linebreak import LineRule, normalise, wide_count
from story2video.media.subtitles import Cue, split_narration, split_spoken
from story2video.storage.records import ArtifactRecord, CharacterRecord

# Drawn on the dark subtitle box; the narrator stays white. A character's colour follows its cast order.
SPEAKER_COLOURS = ("FFD75E", "7FDBFF", "9BE88A", "FF9EC7", "FFB26B", "C3A6FF")


@dataclass(frozen=True)
class ShotCaptions:
    cues: list[Cue]
    timing: str  # "words" when every cue was timed by the speech's words, else "proportional"


def speaker_prefix(name: str, text: str) -> str:
    """"张明：" before Chinese text, "Tom: " before other text."""
    return f"{name}：" if wide_count(text) else f"{name}: "


def shot_captions(
    narration: ArtifactRecord, text: str, cast: list[CharacterRecord], speakers: str, lead_in: float, rule: LineRule
) -> ShotCaptions:
    """Cues for a shot whose narration starts ``lead_in`` seconds into its segment. ``text``: the shot's
    narration, for an artifact made before lines were recorded (read by one voice, timed proportionally)."""
    spoken = float(narration.duration or 0.0)
    lines = narration.meta.get("lines")
    if not lines:
        return ShotCaptions(split_narration(text, lead_in, lead_in + spoken, rule), "proportional")
    names = {character.character_id: character.name for character in cast}
    order = {character.character_id: index for index, character in enumerate(cast)}
    cues: list[Cue] = []
    all_timed = True
    for line in lines:
        speaker = line["speaker"]
        name = names.get(speaker, "") if speaker != NARRATOR and speakers != "off" else ""
        prefix = speaker_prefix(name, line["text"]) if name else ""
        shown = prefix + line["text"] if speakers == "name" else line["text"]
        skip = len(normalise(prefix)) if speakers == "name" else 0
        start, end = lead_in + line["start"], lead_in + line["end"]
        words = [(word, lead_in + begin, lead_in + finish) for word, begin, finish in line["words"]]
        if words:
            line_cues, timed = split_spoken(shown, words, start, end, rule, skip=skip)
        else:
            line_cues, timed = split_narration(shown, start, end, rule), False
        all_timed = all_timed and timed
        if name and speakers == "colour":
            colour = SPEAKER_COLOURS[order[speaker] % len(SPEAKER_COLOURS)]
            line_cues = [replace(cue, colour=colour, label=prefix if index == 0 else "") for index, cue in enumerate(line_cues)]
        cues.extend(line_cues)
    return ShotCaptions(cues, "words" if all_timed else "proportional")
