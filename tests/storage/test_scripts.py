"""Scripts and their episodes on both databases, stored as they are written."""

from __future__ import annotations

from story2video.storage.db import Database
from story2video.storage.records import EpisodeRecord, ScriptRecord
from story2video.storage.scripts import ScriptRepository

CAST = [{"id": "zhang_ming", "name": "张明", "appearance": "短发", "gender": "male", "age": "young", "timbre": ""}]


def _script(script_id: str = "s1", episodes: int = 2) -> tuple[ScriptRecord, list[EpisodeRecord]]:
    script = ScriptRecord("u1", script_id, "标题", "前提", "都市", "3分钟", episodes, "写实", "zh", {"seed": 1}, operation_id="op1")
    return script, [EpisodeRecord("u1", script_id, n, "", "", "", "waiting") for n in range(1, episodes + 1)]


def test_a_script_is_stored_part_by_part(db: Database):
    repo = ScriptRepository(db)
    repo.start_script(*_script())
    repo.set_cast("u1", "s1", CAST)
    repo.set_outline("u1", "s1", [{"episode": 1, "title": "开端", "summary": "一"}, {"episode": 2, "title": "结局", "summary": "二"}])
    assert repo.set_episode_text("u1", "s1", 1, "【场景1】", "writing")
    repo.set_episode_text("u1", "s1", 1, "【场景1】办公室\n张明：“早。”", "done")
    script = repo.get_script("u1", "s1")
    assert script is not None and script.cast_members == CAST and script.outline[1]["title"] == "结局" and script.request == {"seed": 1}
    episodes = repo.list_episodes("u1", "s1")
    assert [(e.episode, e.title, e.state) for e in episodes] == [(1, "开端", "done"), (2, "结局", "waiting")]
    assert episodes[0].text.endswith("“早。”")

    repo.set_scene_prompts("u1", "s1", 1, [{"scene": 1, "heading": "办公室", "prompt": "p"}])
    assert repo.get_episode("u1", "s1", 1).scene_prompts[0]["prompt"] == "p"
    repo.update_episode("u1", "s1", 1, "【场景1】新的", None)
    edited = repo.get_episode("u1", "s1", 1)
    assert (edited.text, edited.state, edited.title, edited.scene_prompts) == ("【场景1】新的", "edited", "开端", [])


def test_writing_a_script_again_replaces_it_and_delete_takes_its_episodes(db: Database):
    repo = ScriptRepository(db)
    repo.start_script(*_script(episodes=3))
    repo.start_script(*_script(episodes=1))
    assert [e.episode for e in repo.list_episodes("u1", "s1")] == [1]
    repo.start_script(*_script("s2"))
    assert {s.script_id for s in repo.list_scripts("u1")} == {"s1", "s2"}
    assert repo.delete_script("u1", "s1") and not repo.delete_script("u1", "s1")
    assert repo.list_episodes("u1", "s1") == [] and repo.get_script("u1", "s1") is None
    assert not repo.set_episode_text("u1", "s1", 1, "late text of a deleted script", "writing")
