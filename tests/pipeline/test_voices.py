"""A voice per character and subtitles timed by the speech: two-character scripts rendered through the
ASGI app on the preview backends (eSpeak NG, real FFmpeg)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app_api import build_providers
from story2video.app import create_app
from story2video.castfields import NARRATOR
from tests.conftest import create_body, small_settings
from tests.pipeline.voicecheck import median_pitch, read_wav

CHINESE = (
    "张明推开门，看见小红站在窗边。“你怎么来了？”张明问道。小红转过身，笑着说：“我来给你送伞。”"
    "她把伞递给他。“谢谢你，”他说，“外面雨真大。”"
)
ENGLISH = (
    'Tom opened the door and saw Anna by the window. "What are you doing here?" Tom asked. Anna turned around and smiled. '
    '"I brought you an umbrella," she said. "Thank you," he said. "It is pouring outside."'
)
USER = "u-001"
LEAD_IN = 0.2  # SEGMENT_LEAD_IN_S in small_settings


class CountingSpeech:
    """The preview speech backend, counting the lines it is asked to speak."""

    def __init__(self, inner):
        self.inner, self.backend, self.model = inner, inner.backend, inner.model
        self.spoken: list[str] = []

    def voice_for(self, hints, taken):
        return self.inner.voice_for(hints, taken)

    async def synthesize(self, request, dest, ctx):
        self.spoken.append(request.text)
        return await self.inner.synthesize(request, dest, ctx)

    async def status(self):
        return await self.inner.status()


class Rendered:
    def __init__(self, root: Path, script: str, **settings):
        self.settings = small_settings(root, **settings)
        providers = build_providers(self.settings)
        self.speech = CountingSpeech(providers.speech)
        providers.speech = self.speech
        self.app = create_app(self.settings, providers)
        self.client = TestClient(self.app)
        self.client.__enter__()
        created = self.client.post("/api/v1/storyboard/create", json=create_body(script_content=script))
        assert created.status_code == 200, created.text
        self.renders = 0

    def render(self) -> dict:
        self.renders += 1
        body = {"operation_id": f"op-render-{self.renders}", "story_id": "story-001", "user_id": USER}
        response = self.client.post("/api/v1/video/render", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    @property
    def deps(self):
        return self.app.state.engine.deps

    def cast(self):
        return self.deps.stories.list_cast(USER, "story-001")

    def shots(self):
        return self.deps.stories.list_shots(USER, "story-001")

    def narration(self, shot):
        return self.deps.store.get(shot.audio_key)

    def srt(self, body: dict) -> str:
        return self.client.get(body["subtitles_url"]).text

    def close(self) -> None:
        self.client.__exit__(None, None, None)


@pytest.fixture(scope="module", params=["zh", "en"])
def rendered(request, tmp_path_factory):
    script = CHINESE if request.param == "zh" else ENGLISH
    story = Rendered(tmp_path_factory.mktemp(request.param), script)
    story.language = request.param
    story.first = story.render()
    yield story
    story.close()


def _pitches_by_speaker(story: Rendered) -> dict[str, list[float]]:
    pitches: dict[str, list[float]] = {}
    for shot in story.shots():
        record = story.narration(shot)
        samples, rate = read_wav(story.deps.store.path_of(record))
        for line in record.meta["lines"]:
            pitches.setdefault(line["speaker"], []).append(median_pitch(samples, rate, line["start"], line["end"]))
    return pitches


def test_the_two_characters_speak_in_voices_told_apart_by_pitch(rendered):
    cast = {character.gender: character for character in rendered.cast()}
    assert set(cast) == {"female", "male"}
    pitches = _pitches_by_speaker(rendered)
    her = sorted(pitches[cast["female"].character_id])
    him = sorted(pitches[cast["male"].character_id])
    assert her and him
    # every line of hers is spoken clearly higher than every line of his
    assert her[0] > 1.4 * him[-1], (her, him)
    voices = {
        line["speaker"]: line["voice"] for shot in rendered.shots() for line in rendered.narration(shot).meta["lines"]
    }
    assert len({voices[NARRATOR], voices[cast["female"].character_id], voices[cast["male"].character_id]}) == 3


def test_the_subtitles_show_who_speaks_and_never_two_speakers_in_a_cue(rendered):
    names = [character.name for character in rendered.cast()]
    srt = rendered.srt(rendered.first)
    colon = "：" if rendered.language == "zh" else ": "
    for name in names:
        assert f"\n{name}{colon}" in srt, srt
    for block in srt.strip().split("\n\n"):
        text = " ".join(block.split("\n")[2:])
        assert sum(text.count(f"{name}{colon}") for name in names) <= 1, block


def _srt_cues(srt: str) -> list[tuple[float, float, str]]:
    cues = []
    for block in srt.strip().split("\n\n"):
        lines = block.split("\n")
        start, end = (_seconds(stamp) for stamp in lines[1].split(" --> "))
        cues.append((start, end, " ".join(lines[2:])))
    return cues


def _seconds(stamp: str) -> float:
    hours, minutes, rest = stamp.split(":")
    seconds, millis = rest.split(",")
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def test_cue_boundaries_sit_on_the_words_espeak_reported(rendered):
    first = rendered.shots()[0]
    record = rendered.narration(first)
    assert record.meta["timing"] == "words"
    segment = rendered.deps.store.get(first.video_key)
    assert segment.meta["timing"] == "words"
    starts = {round(LEAD_IN + word[1], 3) for line in record.meta["lines"] for word in line["words"]}
    ends = starts | {round(LEAD_IN + word[2], 3) for line in record.meta["lines"] for word in line["words"]}
    in_first_shot = [cue for cue in _srt_cues(rendered.srt(rendered.first)) if cue[1] <= float(segment.duration) - 0.01]
    assert len(in_first_shot) >= 2
    for start, end, text in in_first_shot:
        assert any(abs(start - word) <= 0.0015 for word in starts), (start, text, sorted(starts))
        assert any(abs(end - word) <= 0.0015 for word in ends), (end, text, sorted(ends))


def test_changing_one_characters_voice_speaks_again_only_the_shots_it_speaks_in(tmp_path):
    story = Rendered(tmp_path, CHINESE)
    try:
        story.render()
        before = {shot.shot_id: shot.audio_key for shot in story.shots()}
        her = next(character for character in story.cast() if character.gender == "female")
        speaks_in = {shot.shot_id for shot in story.shots() if any(line["speaker"] == her.character_id for line in shot.lines)}
        assert speaks_in and speaks_in != set(before)
        story.speech.spoken.clear()
        story.deps.stories.save_character(replace(her, voice="+f3"))
        story.render()
        after = {shot.shot_id: shot.audio_key for shot in story.shots()}
        changed = {shot_id for shot_id in before if before[shot_id] != after[shot_id]}
        assert changed == speaks_in
        expected = [line.get("text").strip() for shot in story.shots() if shot.shot_id in speaks_in for line in shot.lines]
        assert sorted(story.speech.spoken) == sorted(text for text in expected if re.search(r"\w", text))
        voices = [line["voice"] for shot in story.shots() if shot.shot_id in speaks_in for line in story.narration(shot).meta["lines"] if line["speaker"] == her.character_id]
        assert voices and all(voice == "cmn+f3" for voice in voices)
    finally:
        story.close()


def test_colour_mode_keeps_the_name_in_the_srt_only(tmp_path):
    story = Rendered(tmp_path, ENGLISH, subtitle_speakers="colour")
    try:
        srt = story.srt(story.render())
        assert "\nTom: " in srt and "\nAnna: " in srt
    finally:
        story.close()
