"""Scripts written from an idea, and their episodes, stored as they are written."""

from __future__ import annotations

import json
import time
from dataclasses import fields

from story2video.storage.db import Database, Row
from story2video.storage.records import EpisodeRecord, ScriptRecord

_SCRIPT_COLUMNS = [f.name for f in fields(ScriptRecord)]
_SCRIPT_JSON = ("request", "cast_members", "outline")
_EPISODE_COLUMNS = [f.name for f in fields(EpisodeRecord)]
_EPISODE_JSON = ("scene_prompts",)


def _marks(columns: list[str]) -> str:
    return ", ".join("?" for _ in columns)


def _row_of(record: object, columns: list[str], as_json: tuple[str, ...]) -> tuple:
    return tuple(json.dumps(getattr(record, name), ensure_ascii=False) if name in as_json else getattr(record, name) for name in columns)


def _values(row: Row, as_json: tuple[str, ...]) -> dict:
    values = dict(row)
    for name in as_json:
        values[name] = json.loads(values[name])
    return values


class ScriptRepository:
    def __init__(self, db: Database):
        self.db = db

    def start_script(self, script: ScriptRecord, episodes: list[EpisodeRecord]) -> None:
        """Store a script about to be written (replacing one of the same id, episodes and all)."""
        now = time.time()
        existing = self.get_script(script.user_id, script.script_id)
        script.created_at = existing.created_at if existing else now
        script.updated_at = now
        for episode in episodes:
            episode.updated_at = now
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM scripts WHERE user_id=? AND script_id=?", (script.user_id, script.script_id))
            tx.execute(
                f"INSERT INTO scripts ({', '.join(_SCRIPT_COLUMNS)}) VALUES ({_marks(_SCRIPT_COLUMNS)})",
                _row_of(script, _SCRIPT_COLUMNS, _SCRIPT_JSON),
            )
            tx.executemany(
                f"INSERT INTO script_episodes ({', '.join(_EPISODE_COLUMNS)}) VALUES ({_marks(_EPISODE_COLUMNS)})",
                [_row_of(episode, _EPISODE_COLUMNS, _EPISODE_JSON) for episode in episodes],
            )

    def resume_script(self, script: ScriptRecord) -> None:
        """A new operation carries on writing a script: its finished parts stay, unfinished episodes start over."""
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE scripts SET operation_id=?, request=?, updated_at=? WHERE user_id=? AND script_id=?",
                (script.operation_id, json.dumps(script.request, ensure_ascii=False), now, script.user_id, script.script_id),
            )
            tx.execute(
                "UPDATE script_episodes SET state='waiting', text='', updated_at=? WHERE user_id=? AND script_id=?"
                " AND state NOT IN ('done', 'edited')",
                (now, script.user_id, script.script_id),
            )

    def get_script(self, user_id: str, script_id: str) -> ScriptRecord | None:
        row = self.db.fetch_one("SELECT * FROM scripts WHERE user_id=? AND script_id=?", (user_id, script_id))
        return ScriptRecord(**_values(row, _SCRIPT_JSON)) if row else None

    def list_scripts(self, user_id: str, limit: int = 100, offset: int = 0) -> list[ScriptRecord]:
        rows = self.db.fetch_all(
            "SELECT * FROM scripts WHERE user_id=? ORDER BY updated_at DESC, script_id LIMIT ? OFFSET ?", (user_id, limit, offset)
        )
        return [ScriptRecord(**_values(row, _SCRIPT_JSON)) for row in rows]

    def delete_script(self, user_id: str, script_id: str) -> bool:
        return self.db.execute("DELETE FROM scripts WHERE user_id=? AND script_id=?", (user_id, script_id)) > 0

    def set_cast(self, user_id: str, script_id: str, cast: list[dict]) -> None:
        self._set_script(user_id, script_id, "cast_members", cast)

    def set_outline(self, user_id: str, script_id: str, outline: list[dict]) -> None:
        """The outline, and each episode's title and summary from it."""
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE scripts SET outline=?, updated_at=? WHERE user_id=? AND script_id=?",
                (json.dumps(outline, ensure_ascii=False), now, user_id, script_id),
            )
            tx.executemany(
                "UPDATE script_episodes SET title=?, summary=?, updated_at=? WHERE user_id=? AND script_id=? AND episode=?",
                [(plan["title"], plan["summary"], now, user_id, script_id, plan["episode"]) for plan in outline],
            )

    def _set_script(self, user_id: str, script_id: str, column: str, value: object) -> None:
        self.db.execute(
            f"UPDATE scripts SET {column}=?, updated_at=? WHERE user_id=? AND script_id=?",
            (json.dumps(value, ensure_ascii=False), time.time(), user_id, script_id),
        )

    def list_episodes(self, user_id: str, script_id: str) -> list[EpisodeRecord]:
        rows = self.db.fetch_all(
            "SELECT * FROM script_episodes WHERE user_id=? AND script_id=? ORDER BY episode", (user_id, script_id)
        )
        return [EpisodeRecord(**_values(row, _EPISODE_JSON)) for row in rows]

    def get_episode(self, user_id: str, script_id: str, episode: int) -> EpisodeRecord | None:
        row = self.db.fetch_one(
            "SELECT * FROM script_episodes WHERE user_id=? AND script_id=? AND episode=?", (user_id, script_id, episode)
        )
        return EpisodeRecord(**_values(row, _EPISODE_JSON)) if row else None

    def set_episode_text(self, user_id: str, script_id: str, episode: int, text: str, state: str) -> bool:
        """The episode's text as written so far, and its state; False when the script is gone."""
        now = time.time()
        with self.db.transaction() as tx:
            changed = tx.execute(
                "UPDATE script_episodes SET text=?, state=?, updated_at=? WHERE user_id=? AND script_id=? AND episode=?",
                (text, state, now, user_id, script_id, episode),
            ).rowcount
            tx.execute("UPDATE scripts SET updated_at=? WHERE user_id=? AND script_id=?", (now, user_id, script_id))
        return changed > 0

    def set_episode_state(self, user_id: str, script_id: str, episode: int, state: str, *, only_from: tuple[str, ...] = ()) -> None:
        sql = "UPDATE script_episodes SET state=?, updated_at=? WHERE user_id=? AND script_id=? AND episode=?"
        params: list = [state, time.time(), user_id, script_id, episode]
        if only_from:
            sql += f" AND state IN ({_marks(list(only_from))})"
            params += list(only_from)
        self.db.execute(sql, params)

    def update_episode(self, user_id: str, script_id: str, episode: int, text: str, title: str | None) -> None:
        """A person's edit: the new text (state "edited"); the scene prompts of the old text are dropped."""
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE script_episodes SET text=?, state='edited', scene_prompts='[]', title=COALESCE(?, title), updated_at=?"
                " WHERE user_id=? AND script_id=? AND episode=?",
                (text, title, now, user_id, script_id, episode),
            )
            tx.execute("UPDATE scripts SET updated_at=? WHERE user_id=? AND script_id=?", (now, user_id, script_id))

    def set_scene_prompts(self, user_id: str, script_id: str, episode: int, prompts: list[dict]) -> None:
        self.db.execute(
            "UPDATE script_episodes SET scene_prompts=?, updated_at=? WHERE user_id=? AND script_id=? AND episode=?",
            (json.dumps(prompts, ensure_ascii=False), time.time(), user_id, script_id, episode),
        )
