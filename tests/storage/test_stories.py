"""Stories and shots on both databases: create, replace (the storyboard, keeping created_at), save, delete."""

from __future__ import annotations

from story2video.storage.db import Database
from story2video.storage.records import ShotRecord, StoryRecord
from story2video.storage.stories import StoryRepository


def _story(name: str = "name") -> StoryRecord:
    return StoryRecord("u", "s", name, "script", "style", "16:9", 720)


def _shot(shot_id: str, sequence: int) -> ShotRecord:
    return ShotRecord("u", "s", shot_id, sequence, "subject", "detail", "camera", "narration", "tone", "style", 2**32 + sequence)


def test_replacing_a_story_replaces_its_shots_and_keeps_its_creation_time(db: Database):
    stories = StoryRepository(db)
    stories.replace_story(_story(), [_shot("shot_01", 1), _shot("shot_02", 2)])
    created = stories.get_story("u", "s").created_at
    stories.replace_story(_story("renamed"), [_shot("shot_09", 1)])
    story = stories.get_story("u", "s")
    assert (story.display_name, story.created_at) == ("renamed", created)
    assert [shot.shot_id for shot in stories.list_shots("u", "s")] == ["shot_09"]
    assert stories.list_shots("u", "s")[0].seed == 2**32 + 1
    assert [story.story_id for story in stories.list_stories("u")] == ["s"]


def test_saving_a_shot_and_the_video(db: Database):
    stories = StoryRepository(db)
    stories.replace_story(_story(), [_shot("shot_01", 1)])
    shot = stories.get_shot("u", "s", "shot_01")
    shot.image_key = "k" * 64
    stories.save_shot(shot)
    stories.set_story_video("u", "s", "v" * 64, None)
    assert stories.get_shot("u", "s", "shot_01").image_key == "k" * 64
    assert stories.get_story("u", "s").video_key == "v" * 64


def test_deleting_a_story_deletes_its_shots(db: Database):
    stories = StoryRepository(db)
    stories.replace_story(_story(), [_shot("shot_01", 1)])
    assert stories.delete_story("u", "s") is True and stories.delete_story("u", "s") is False
    assert stories.get_story("u", "s") is None
    assert db.fetch_one("SELECT COUNT(*) AS n FROM shots")["n"] == 0
