"""PixVerse with a story's cast: reference-to-video ("fusion") with the characters' portraits
(PIXVERSE_FUSION), lip sync for shots whose characters speak on screen (PIXVERSE_LIP_SYNC), both off by
default, and both checked at start-up. The fake speaks PixVerse's documented fusion, media-upload and
lip-sync calls."""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image
from pydantic import ValidationError

import app_api
import app_local
from app_api.pixverse import LIP_SYNC_JOB, VIDEO_JOB, PixVerseVideoGenerator
from app_api.pixverse.fusion import aspect_ratio, fusion_prompt, ref_names
from story2video.errors import BackendTimeout, ConfigurationError
from story2video.media.wav import mono_wav_bytes
from story2video.pipeline.cache import artifact_key
from story2video.providers.base import ClipReference, ClipRequest, StageContext
from story2video.stagecontext import MemoryJobLedger
from tests.conftest import create_body, small_settings
from tests.fakes.pixverse import FakePixVerse

SCRIPT = (
    "The rain fell all night over the quiet harbour town. "
    'Tom and Anna walked along the quiet harbour at dusk. "Is anybody there?" Tom asked, looking at the boathouse. '
    "Anna laughed beside him. \"I am the keeper's daughter,\" she said. The storm moved out to sea before dawn."
)
IMG_GENERATE_FIELDS = {"img_id", "prompt", "model", "duration", "quality", "motion_mode", "seed", "water_mark"}
LEAD_IN, TAIL = 0.2, 0.4  # SEGMENT_LEAD_IN_S's and SEGMENT_TAIL_S's defaults


@pytest.fixture
def pixverse(ffmpeg_path) -> Iterator[FakePixVerse]:
    fake = FakePixVerse(ffmpeg_path).start()
    yield fake
    fake.stop()


def _render(make_client, pixverse: FakePixVerse, tmp_path, **options):
    chosen = dict(video_backend="pixverse", storyboard_backend="preview", image_backend="preview", speech_backend="preview", **pixverse.settings(), **options)
    client = make_client(providers=app_api.build_providers(small_settings(tmp_path, **chosen)), **chosen)
    created = client.post("/api/v1/storyboard/create", json=create_body(script_content=SCRIPT, shot_count=4))
    assert created.status_code == 200, created.text
    rendered = client.post("/api/v1/video/render", json={"operation_id": "op-3", "story_id": "story-001", "user_id": "u-001"})
    assert rendered.status_code == 200, rendered.text
    deps = client.app.state.engine.deps
    return deps, deps.stories.list_shots("u-001", "story-001"), {c.character_id: c for c in deps.stories.list_cast("u-001", "story-001")}


def _made_for(pixverse: FakePixVerse, kind: str, shot) -> list:
    return [(video_id, g) for video_id, g in pixverse.of_kind(kind).items() if shot.detail in g.prompt]


def test_fusion_uploads_each_characters_portrait_and_names_it_in_the_call(make_client, pixverse, tmp_path) -> None:
    deps, shots, cast = _render(make_client, pixverse, tmp_path, pixverse_fusion=True)
    assert {c.name for c in cast.values()} == {"Tom", "Anna"}
    assert any(len(shot.characters) == 2 for shot in shots) and any(not shot.characters for shot in shots)
    for shot in shots:
        if not shot.characters:
            assert len(_made_for(pixverse, "img", shot)) == 1 and not _made_for(pixverse, "fusion", shot)
            continue
        ((_, fusion),) = _made_for(pixverse, "fusion", shot)
        subjects = [r for r in fusion.body["image_references"] if r["type"] == "subject"]
        (scene,) = [r for r in fusion.body["image_references"] if r["type"] == "background"]
        characters = [cast[cid] for cid in shot.characters]
        assert [r["ref_name"] for r in subjects] == [c.name.lower() for c in characters]
        for reference, character in zip(subjects, characters):
            portrait = deps.store.path_of(deps.store.get(character.reference_key)).read_bytes()
            assert pixverse.images[reference["img_id"]] == portrait  # the character's own portrait went up
            assert f"@{reference['ref_name']} is {character.name}" in fusion.body["prompt"]
        with Image.open(io.BytesIO(pixverse.images[scene["img_id"]])) as keyframe:
            assert keyframe.size == (320, 180)  # the keyframe at the render's frame is the scene
        assert fusion.body["aspect_ratio"] == "16:9" and fusion.body["model"] == "v4.5"
        assert set(fusion.body) == {"image_references", "prompt", "model", "duration", "quality", "aspect_ratio", "seed"}
    assert pixverse.counts["fusions"] == sum(1 for shot in shots if shot.characters)
    assert pixverse.counts["lip_syncs"] == 0 and pixverse.counts["media_uploads"] == 0


def _wav(content: bytes) -> tuple[bytes, int]:
    with wave.open(io.BytesIO(content)) as audio:
        return audio.readframes(audio.getnframes()), audio.getframerate()


def test_lip_sync_sends_the_on_screen_lines_and_the_synced_clip_is_used(make_client, pixverse, tmp_path) -> None:
    deps, shots, _ = _render(make_client, pixverse, tmp_path, pixverse_lip_sync=True, clip_fit="slow")
    speaking = [shot for shot in shots if any(line["speaker"] in shot.characters for line in shot.lines)]
    assert speaking and len(speaking) < len(shots)
    assert pixverse.counts["lip_syncs"] == len(speaking) == pixverse.counts["media_uploads"]
    for shot in shots:
        ((video_id, _),) = _made_for(pixverse, "img", shot)
        segment = deps.store.get(shot.video_key)
        clip = deps.store.get(segment.meta["clip"])
        if shot not in speaking:
            assert not _made_for(pixverse, "lip_sync", shot) and video_id in pixverse.downloaded
            assert not clip.meta.get("lip_synced")
            continue
        ((synced_id, synced),) = _made_for(pixverse, "lip_sync", shot)
        assert synced.body["source_video_id"] == video_id  # the generation itself, never downloaded and uploaded
        assert synced_id in pixverse.downloaded and video_id not in pixverse.downloaded
        assert clip.meta["lip_synced"] is True
        pcm, rate = _wav(pixverse.media[synced.body["audio_media_id"]].content)
        narration = deps.store.get(shot.audio_key)
        spoken, narration_rate = _wav(deps.store.path_of(narration).read_bytes())
        assert rate == narration_rate
        assert len(pcm) == 2 * round(min(5.0, LEAD_IN + len(spoken) / 2 / rate) * rate)  # cut to the 5 s clip
        lead = 2 * round(LEAD_IN * rate)
        assert not pcm[:lead].strip(b"\x00")
        for line in narration.meta["lines"]:
            first, last = 2 * round(line["start"] * rate), min(2 * round(line["end"] * rate), len(pcm) - lead)
            if first >= last:
                continue
            heard = pcm[lead + first : lead + last]
            if line["speaker"] in shot.characters:
                assert heard == spoken[first:last] and heard.strip(b"\x00")
            else:
                assert not heard.strip(b"\x00"), "the narrator's words do not move the lips"


def test_lip_syncs_job_is_noted_before_it_is_polled_and_resumed_after_a_restart(pixverse, tmp_path) -> None:
    keyframe, speech = tmp_path / "keyframe.png", tmp_path / "speech.wav"
    Image.new("RGB", (320, 180), (30, 60, 90)).save(keyframe)
    rate = 16000
    speech.write_bytes(mono_wav_bytes(bytes(2 * 3200) + b"\x10\x20" * 48000, rate))  # 0.2 s of silence, then 3 s of voice
    request = ClipRequest(keyframe=keyframe, prompt="Tom asks", camera="static", duration=3.5, width=320, height=180, fps=12, seed=3, speech=speech)
    jobs = MemoryJobLedger()
    noted_at_poll: list[bool] = []
    pixverse.on_poll = lambda video_id: noted_at_poll.append(jobs.recall(LIP_SYNC_JOB) == str(video_id)) if video_id in pixverse.of_kind("lip_sync") else None
    pixverse.polls_until_done, pixverse.lip_sync_polls_until_done = 0, 3
    settings = small_settings(tmp_path, **pixverse.settings(), pixverse_lip_sync=True)
    first = PixVerseVideoGenerator(settings.model_copy(update={"pixverse_task_timeout_s": 0.001}))  # dies while the lip sync runs
    with pytest.raises(BackendTimeout, match="lip sync"):
        asyncio.run(first.animate(request, tmp_path / "clip.mp4", StageContext(jobs=jobs)))
    assert jobs.recall(LIP_SYNC_JOB) is not None and pixverse.counts["lip_syncs"] == 1
    clip = asyncio.run(PixVerseVideoGenerator(settings).animate(request, tmp_path / "clip.mp4", StageContext(jobs=jobs)))
    assert clip.lip_synced and clip.duration == pytest.approx(5.0, abs=0.1)
    assert pixverse.counts["lip_syncs"] == 1 and pixverse.counts["generations"] == 1 and pixverse.counts["media_uploads"] == 1
    assert noted_at_poll and all(noted_at_poll)
    assert jobs.recall(LIP_SYNC_JOB) is None and jobs.recall(VIDEO_JOB) is None
    assert pixverse.downloaded == list(pixverse.of_kind("lip_sync"))


def test_speech_that_starts_after_the_clip_ends_is_not_synced(pixverse, tmp_path) -> None:
    keyframe, speech = tmp_path / "keyframe.png", tmp_path / "speech.wav"
    Image.new("RGB", (320, 180), (30, 60, 90)).save(keyframe)
    speech.write_bytes(mono_wav_bytes(bytes(2 * 16000 * 6) + b"\x10\x20" * 16000, 16000))  # heard from 6 s on
    request = ClipRequest(keyframe=keyframe, prompt="a wide shot", camera="", duration=7, width=320, height=180, fps=12, seed=3, speech=speech)
    gen = PixVerseVideoGenerator(small_settings(tmp_path, **pixverse.settings(), pixverse_lip_sync=True))
    clip = asyncio.run(gen.animate(request, tmp_path / "clip.mp4", StageContext()))
    assert not clip.lip_synced and pixverse.counts["media_uploads"] == 0 and pixverse.counts["lip_syncs"] == 0


def test_both_off_by_default_make_exactly_the_old_calls(make_client, pixverse, tmp_path) -> None:
    assert not small_settings(tmp_path).pixverse_fusion and not small_settings(tmp_path).pixverse_lip_sync
    deps, shots, cast = _render(make_client, pixverse, tmp_path)
    assert cast and any(shot.characters for shot in shots)
    assert not deps.providers.video.takes_references and not deps.providers.video.takes_speech
    assert pixverse.counts["fusions"] == pixverse.counts["lip_syncs"] == pixverse.counts["media_uploads"] == 0
    assert pixverse.counts["uploads"] == pixverse.counts["generations"] == len(shots)
    assert all(set(g.body) == IMG_GENERATE_FIELDS for g in pixverse.generations.values())
    assert set(pixverse.calls) == {"/openapi/v2/image/upload", "/openapi/v2/video/img/generate", "/openapi/v2/video/result/{id}", "/openapi/v2/account/balance"}
    for shot in shots:  # the clips keep the cache keys clips had before references and speech existed
        segment, narration = deps.store.get(shot.video_key), deps.store.get(shot.audio_key)
        duration = round(LEAD_IN + float(narration.duration) + TAIL, 3)
        request = {"keyframe": segment.meta["keyframe"], "prompt": shot.detail, "camera": shot.camera, "duration": duration, "width": 320, "height": 180, "fps": 12, "seed": shot.seed}
        assert segment.meta["clip"] == artifact_key("clip", backend="pixverse", model="v4.5", request=request)


def test_fusion_needs_a_model_that_offers_it(tmp_path) -> None:
    for old in ("v3.5", "v4"):
        with pytest.raises(ValidationError, match="PIXVERSE_FUSION needs model v4.5"):
            small_settings(tmp_path, pixverse_fusion=True, pixverse_model=old)
    for offered in ("v4.5", "v5", "v6"):
        assert small_settings(tmp_path, pixverse_fusion=True, pixverse_model=offered).pixverse_fusion
    assert small_settings(tmp_path, pixverse_lip_sync=True, pixverse_model="v4").pixverse_lip_sync  # lip sync takes any generation


@pytest.mark.parametrize("mode", [app_api, app_local], ids=["cloud", "local"])
@pytest.mark.parametrize("option", ["pixverse_fusion", "pixverse_lip_sync"])
def test_the_options_stop_the_start_up_when_clips_are_not_on_pixverse(tmp_path, mode, option) -> None:
    settings = small_settings(tmp_path, local_inference=mode is app_local, video_backend="preview", pixverse_api_key="pv-key", **{option: True})
    with pytest.raises(ConfigurationError, match=f"{option.upper()} apply to clips made on PixVerse.*VIDEO_BACKEND=pixverse"):
        mode.build_providers(settings)
    chosen = settings.model_copy(update={"video_backend": "pixverse"})
    assert mode.build_providers(chosen).video.backend == "pixverse"


def test_fusion_names_and_words() -> None:
    def request(*names: str) -> ClipRequest:
        references = tuple(ClipReference(name, Path(f"{name}.png")) for name in names)
        return ClipRequest(keyframe=Path("k.png"), prompt="they meet", camera="slow push in", duration=4, width=720, height=1280, fps=24, seed=1, references=references)

    assert ref_names(request("Tom", "Anna").references) == ["tom", "anna"]
    assert ref_names(request("张明", "李华").references) == ["person1", "person2"]  # names without plain letters
    assert ref_names(request("Tom", "TOM").references) == ["tom", "person2"]  # distinct
    assert ref_names(request("Scene").references) == ["person1"]  # the keyframe's name is taken
    prompt = fusion_prompt(request("Tom", "Anna", "Bob"), ["tom", "anna"])
    assert prompt.startswith("@tom is Tom; @anna is Anna; the scene is @scene . they meet") and "slow push in" in prompt
    assert "Bob" not in prompt.split(".")[0]  # a third character is in the shot's words only
    assert aspect_ratio(720, 1280) == "9:16" and aspect_ratio(1280, 720) == "16:9" and aspect_ratio(720, 720) == "1:1"
