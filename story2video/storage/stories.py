"""Stories, their shots and their cast."""

from __future__ import annotations

import json
import time
from dataclasses import astuple, fields

from story2video.storage.db import Database, Row
from story2video.storage.records import CharacterRecord, ShotRecord, StoryRecord

_STORY_COLUMNS = [f.name for f in fields(StoryRecord)]
_SHOT_COLUMNS = [f.name for f in fields(ShotRecord)]
_SHOT_JSON = ("characters", "lines")
_CHARACTER_COLUMNS = [f.name for f in fields(CharacterRecord)]


def _placeholders(columns: list[str]) -> str:
    return ", ".join("?" for _ in columns)


_STORY_KEY = ("user_id", "story_id")
_UPSERT_STORY = (
    f"INSERT INTO stories ({', '.join(_STORY_COLUMNS)}) VALUES ({_placeholders(_STORY_COLUMNS)})"
    f" ON CONFLICT ({', '.join(_STORY_KEY)}) DO UPDATE SET"
    f" {', '.join(f'{column}=excluded.{column}' for column in _STORY_COLUMNS if column not in _STORY_KEY)}"
)


class StoryRepository:
    def __init__(self, db: Database):
        self.db = db

    def replace_story(self, story: StoryRecord, shots: list[ShotRecord], cast: list[CharacterRecord] | None = None) -> None:
        """Create the story, or replace its storyboard and cast when it already exists (one transaction)."""
        now = time.time()
        story.updated_at = now
        for record in [*shots, *(cast or [])]:
            record.updated_at = now
        existing = self.get_story(story.user_id, story.story_id)
        story.created_at = existing.created_at if existing else now
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM shots WHERE user_id=? AND story_id=?", (story.user_id, story.story_id))
            conn.execute("DELETE FROM characters WHERE user_id=? AND story_id=?", (story.user_id, story.story_id))
            conn.execute(_UPSERT_STORY, astuple(story))
            conn.executemany(
                f"INSERT INTO shots ({', '.join(_SHOT_COLUMNS)}) VALUES ({_placeholders(_SHOT_COLUMNS)})",
                [_shot_row(shot) for shot in shots],
            )
            conn.executemany(
                f"INSERT INTO characters ({', '.join(_CHARACTER_COLUMNS)}) VALUES ({_placeholders(_CHARACTER_COLUMNS)})",
                [astuple(character) for character in cast or []],
            )

    def get_story(self, user_id: str, story_id: str) -> StoryRecord | None:
        row = self.db.fetch_one("SELECT * FROM stories WHERE user_id=? AND story_id=?", (user_id, story_id))
        return StoryRecord(**dict(row)) if row else None

    def list_stories(self, user_id: str, limit: int = 100, offset: int = 0) -> list[StoryRecord]:
        rows = self.db.fetch_all(
            "SELECT * FROM stories WHERE user_id=? ORDER BY updated_at DESC LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return [StoryRecord(**dict(row)) for row in rows]

    def delete_story(self, user_id: str, story_id: str) -> bool:
        return self.db.execute("DELETE FROM stories WHERE user_id=? AND story_id=?", (user_id, story_id)) > 0

    def list_shots(self, user_id: str, story_id: str) -> list[ShotRecord]:
        rows = self.db.fetch_all(
            "SELECT * FROM shots WHERE user_id=? AND story_id=? ORDER BY sequence", (user_id, story_id)
        )
        return [_shot_from(row) for row in rows]

    def get_shot(self, user_id: str, story_id: str, shot_id: str) -> ShotRecord | None:
        row = self.db.fetch_one(
            "SELECT * FROM shots WHERE user_id=? AND story_id=? AND shot_id=?", (user_id, story_id, shot_id)
        )
        return _shot_from(row) if row else None

    def save_shot(self, shot: ShotRecord) -> None:
        shot.updated_at = time.time()
        assignments = ", ".join(f"{col}=?" for col in _SHOT_COLUMNS[3:])
        values = _shot_row(shot)
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE shots SET {assignments} WHERE user_id=? AND story_id=? AND shot_id=?",
                (*values[3:], *values[:3]),
            )
            conn.execute(
                "UPDATE stories SET updated_at=? WHERE user_id=? AND story_id=?",
                (shot.updated_at, shot.user_id, shot.story_id),
            )

    def set_story_video(self, user_id: str, story_id: str, video_key: str, subtitles_key: str | None) -> None:
        self.db.execute(
            "UPDATE stories SET video_key=?, subtitles_key=?, updated_at=? WHERE user_id=? AND story_id=?",
            (video_key, subtitles_key, time.time(), user_id, story_id),
        )

    def list_cast(self, user_id: str, story_id: str) -> list[CharacterRecord]:
        rows = self.db.fetch_all(
            "SELECT * FROM characters WHERE user_id=? AND story_id=? ORDER BY sequence", (user_id, story_id)
        )
        return [CharacterRecord(**dict(row)) for row in rows]

    def get_character(self, user_id: str, story_id: str, character_id: str) -> CharacterRecord | None:
        row = self.db.fetch_one(
            "SELECT * FROM characters WHERE user_id=? AND story_id=? AND character_id=?", (user_id, story_id, character_id)
        )
        return CharacterRecord(**dict(row)) if row else None

    def save_character(self, character: CharacterRecord, *, redraw_shots: bool = False) -> None:
        """Store an edited character; with ``redraw_shots``, the drawn keyframes of the shots that show it
        are forgotten (uploaded pictures stay), so the next render draws them again."""
        character.updated_at = time.time()
        assignments = ", ".join(f"{col}=?" for col in _CHARACTER_COLUMNS[3:])
        values = astuple(character)
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE characters SET {assignments} WHERE user_id=? AND story_id=? AND character_id=?",
                (*values[3:], *values[:3]),
            )
            if redraw_shots:
                for shot in self._shots_showing(conn, character):
                    conn.execute(
                        "UPDATE shots SET image_key=NULL, video_key=NULL, consistency=NULL, takes=0, updated_at=?"
                        " WHERE user_id=? AND story_id=? AND shot_id=?",
                        (character.updated_at, character.user_id, character.story_id, shot),
                    )
            conn.execute(
                "UPDATE stories SET updated_at=? WHERE user_id=? AND story_id=?",
                (character.updated_at, character.user_id, character.story_id),
            )

    def set_drawn_reference(self, character: CharacterRecord, reference_key: str) -> None:
        """Note the portrait drawn for ``character``, unless a person has uploaded one meanwhile."""
        character.reference_key = reference_key
        self.db.execute(
            "UPDATE characters SET reference_key=? WHERE user_id=? AND story_id=? AND character_id=? AND reference_upload_id IS NULL",
            (reference_key, character.user_id, character.story_id, character.character_id),
        )

    @staticmethod
    def _shots_showing(conn, character: CharacterRecord) -> list[str]:
        rows = conn.execute(
            "SELECT sh.shot_id, sh.characters, a.backend FROM shots sh LEFT JOIN artifacts a ON a.key = sh.image_key"
            " WHERE sh.user_id=? AND sh.story_id=?",
            (character.user_id, character.story_id),
        ).fetchall()
        return [
            row["shot_id"] for row in rows if character.character_id in json.loads(row["characters"]) and row["backend"] != "upload"
        ]


def _shot_row(shot: ShotRecord) -> tuple:
    return tuple(
        json.dumps(getattr(shot, name), ensure_ascii=False) if name in _SHOT_JSON else getattr(shot, name)
        for name in _SHOT_COLUMNS
    )


def _shot_from(row: Row) -> ShotRecord:
    values = dict(row)
    for name in _SHOT_JSON:
        values[name] = json.loads(values[name])
    return ShotRecord(**values)
