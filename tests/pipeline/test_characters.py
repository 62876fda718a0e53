"""Keyframes with characters: each character's reference picture is made first (once, however many
shots need it), every keyframe of a shot carries its characters' looks and references, and the drift
check draws again below CONSISTENCY_THRESHOLD and keeps the best take."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from app_api import build_providers
from story2video.pipeline.cache import derive_seed
from story2video.pipeline.keyframes import take_seed
from story2video.providers.preview.likeness import ColourLikenessScorer, colour_histogram, cosine
from tests.conftest import create_body, small_settings

SCRIPT = (
    "The rain fell all night over the quiet harbour town. Tom opened the door of the boathouse and looked out. "
    '"Is anybody there?" Tom asked. Far away, Anna stood alone at the window of the lighthouse. '
    '"I am the keeper\'s daughter," she said. The storm moved out to sea before dawn.'
)
USER = {"user_id": "u-001"}


class RecordingPainter:
    """The preview painter, keeping every request (with the reference files as they were then)."""

    def __init__(self, inner):
        self.inner, self.backend, self.model = inner, inner.backend, inner.model
        self.redraw_per_frame = getattr(inner, "redraw_per_frame", False)
        self.requests = []
        self.reference_bytes: list[list[bytes]] = []

    async def generate(self, request, dest, ctx):
        self.requests.append(request)
        self.reference_bytes.append([Path(path).read_bytes() for path in request.references])
        return await self.inner.generate(request, dest, ctx)

    async def status(self):
        return await self.inner.status()

    def keyframes(self, subject: str) -> list:
        return [request for request in self.requests if request.subject == subject]


class ScriptedScorer:
    """Scores the n-th take of a shot ``scores[n]`` (1-based), telling the take by the keyframe's seed;
    remembers the pictures it was given."""

    backend, model = "scripted", "scripted-v1"

    def __init__(self, scores: dict[int, float]):
        self.scores = scores
        self.deps = None
        self.calls: list[tuple[Path, list[Path]]] = []

    async def score(self, picture, references, ctx):
        self.calls.append((Path(picture), [Path(path) for path in references]))
        seed = self.deps.store.get(Path(picture).stem).meta["seed"]  # the store names a file after its key
        for shot in self.deps.stories.list_shots("u-001", "story-001"):
            for take, score in self.scores.items():
                if take_seed(shot.seed, take) == seed:
                    return score
        raise AssertionError(f"a keyframe with seed {seed} is no take of any shot")


def _engine(client):
    return client.app.state.engine


def _setup(make_client, tmp_path, scorer=None, **overrides):
    settings = small_settings(tmp_path, **overrides)
    providers = build_providers(settings)
    painter = providers.image = RecordingPainter(providers.image)
    if scorer is not None:
        providers.scorer = scorer
    client = make_client(providers=providers, **overrides)
    return client, painter


def _create(client, shot_count: int = 4) -> None:
    response = client.post("/api/v1/storyboard/create", json=create_body(script_content=SCRIPT, shot_count=shot_count))
    assert response.status_code == 200, response.text


def test_each_character_gets_one_portrait_and_its_shots_draw_with_it(make_client, tmp_path):
    client, painter = _setup(make_client, tmp_path, shot_concurrency=4)
    _create(client)
    deps = _engine(client).deps
    cast = {c.name: c for c in deps.stories.list_cast("u-001", "story-001")}
    assert set(cast) == {"Tom", "Anna"}
    portraits = [request for request in painter.requests if not request.narration and request.subject in cast]
    assert sorted(request.subject for request in portraits) == ["Anna", "Tom"], "one portrait per character, drawn once"
    for request in portraits:
        assert request.width == request.height
        assert [look.appearance for look in request.characters] == [cast[request.subject].appearance]
    shots = deps.stories.list_shots("u-001", "story-001")
    assert any(shot.characters for shot in shots) and any(not shot.characters for shot in shots)
    for shot in shots:
        expected = [deps.stories.get_character("u-001", "story-001", cid) for cid in shot.characters]
        assert all(c.reference_key and deps.store.get(c.reference_key).kind == "portrait" for c in expected)
        (request,) = [r for r in painter.keyframes(shot.subject) if r.narration == shot.narration]
        assert [look.name for look in request.characters] == [c.name for c in expected]
        index = painter.requests.index(request)
        portraits_bytes = [deps.store.path_of(deps.store.get(c.reference_key)).read_bytes() for c in expected]
        assert painter.reference_bytes[index] == portraits_bytes
        assert (shot.consistency is None) == (not shot.characters)
        assert shot.takes == 1 or shot.characters


def test_an_uploaded_reference_is_used_instead_of_a_portrait(make_client, tmp_path):
    client, painter = _setup(make_client, tmp_path)
    _create(client)
    deps = _engine(client).deps
    tom = next(c for c in deps.stories.list_cast("u-001", "story-001") if c.name == "Tom")
    picture = io.BytesIO()
    Image.new("RGB", (64, 80), (200, 40, 40)).save(picture, "PNG")
    upload = client.post("/api/v1/uploads", params=USER, content=picture.getvalue(), headers={"Content-Type": "image/png"})
    assert upload.status_code == 201, upload.text
    stored = _engine(client).uploads.artifact_for("u-001", upload.json()["upload_id"], "image", "reference_upload_id")
    tom.reference_key, tom.reference_upload_id = stored.key, upload.json()["upload_id"]
    deps.stories.save_character(tom, redraw_shots=True)
    painter.requests.clear()
    painter.reference_bytes.clear()
    render = client.post("/api/v1/video/render", json={"operation_id": "op-r1", "story_id": "story-001", **USER})
    assert render.status_code == 200, render.text
    toms = [shot for shot in deps.stories.list_shots("u-001", "story-001") if tom.character_id in shot.characters]
    assert toms
    upload_bytes = deps.store.path_of(stored).read_bytes()
    for shot in toms:
        drawn = [i for i, r in enumerate(painter.requests) if r.subject == shot.subject and r.narration == shot.narration]
        assert drawn, "the shots of the edited character are drawn again"
        index = [look.name for look in painter.requests[drawn[0]].characters].index("Tom")
        assert painter.reference_bytes[drawn[0]][index] == upload_bytes
    assert not [r for r in painter.requests if r.subject == "Tom" and not r.narration], "no portrait of Tom is drawn"


@pytest.mark.parametrize(
    ("scores", "takes", "kept", "flagged"),
    [
        ({1: 0.2, 2: 0.9, 3: 0.95}, 2, 2, False),  # the second take passes: no third
        ({1: 0.1, 2: 0.3, 3: 0.2}, 3, 2, True),  # none passes: all three drawn, the best kept and flagged
        ({1: 0.8, 2: 0.1, 3: 0.1}, 1, 1, False),  # the first passes: one take
    ],
)
def test_a_low_score_draws_again_and_the_best_take_is_kept(make_client, tmp_path, scores, takes, kept, flagged):
    scorer = ScriptedScorer(scores)
    client, painter = _setup(make_client, tmp_path, scorer=scorer, consistency_threshold=0.5, consistency_takes=3)
    deps = scorer.deps = _engine(client).deps
    _create(client)

    shots = deps.stories.list_shots("u-001", "story-001")
    cast_shots = [shot for shot in shots if shot.characters]
    assert cast_shots
    for shot in shots:
        drawn = [r.seed for r in painter.requests if r.subject == shot.subject and r.narration == shot.narration]
        if not shot.characters:
            assert drawn == [shot.seed] and shot.consistency is None and shot.takes == 1
            continue
        assert drawn == [take_seed(shot.seed, n) for n in range(1, takes + 1)]
        assert shot.takes == takes and shot.consistency == scores[kept]
        image = deps.store.get(shot.image_key)
        assert image.meta["seed"] == take_seed(shot.seed, kept)
        assert image.meta["consistency_flagged"] is flagged and image.meta["consistency"] == scores[kept]
        assert take_seed(shot.seed, 2) == derive_seed(shot.seed, "take", 2)
    for picture, references in scorer.calls:
        assert picture.is_file() and references and all(deps.store.get(ref.stem).kind == "portrait" for ref in references)


def test_the_preview_stand_in_scores_alike_colours_high_and_others_low(tmp_path):
    def png(name, colour):
        path = tmp_path / f"{name}.png"
        Image.new("RGB", (40, 30), colour).save(path)
        return path

    red, red_too, blue = png("red", (220, 30, 30)), png("red2", (230, 20, 40)), png("blue", (20, 30, 220))
    assert cosine(colour_histogram(red), colour_histogram(red_too)) == pytest.approx(1.0)
    assert cosine(colour_histogram(red), colour_histogram(blue)) == 0.0

    import asyncio

    from story2video.stagecontext import StageContext

    scorer = ColourLikenessScorer()
    assert asyncio.run(scorer.score(red, [red_too, blue], StageContext())) == 0.0  # the least alike reference counts
    assert asyncio.run(scorer.score(red, [red_too], StageContext())) == pytest.approx(1.0)
