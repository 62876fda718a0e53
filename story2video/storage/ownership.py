"""Whether a stored picture is one of a user's (a keyframe of their shots, or their upload)."""

from __future__ import annotations

from story2video.storage.db import Database


def users_picture_shot(db: Database, user_id: str, artifact_key: str) -> tuple[str, str] | None:
    """(detail, camera) of the user's shot this picture is the keyframe of (("", "") for the user's own
    upload); None when the picture is none of the user's."""
    row = db.fetch_one("SELECT detail, camera FROM shots WHERE user_id=? AND image_key=? LIMIT 1", (user_id, artifact_key))
    if row is not None:
        return row["detail"], row["camera"]
    row = db.fetch_one("SELECT 1 AS found FROM uploads WHERE user_id=? AND artifact_key=? AND kind='image' LIMIT 1", (user_id, artifact_key))
    return ("", "") if row is not None else None
