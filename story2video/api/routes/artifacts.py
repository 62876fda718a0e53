"""Finished artifacts, by content key. Only recorded (complete, validated) files are ever served."""

from __future__ import annotations

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from story2video.api.deps import EngineDep
from story2video.api.schemas import ErrorResponse
from story2video.errors import NotFound

router = APIRouter(prefix="/api/v1/artifacts", tags=["artifacts"])
ArtifactName = Path(pattern=r"^[0-9a-f]{64}\.(png|wav|mp4|srt)$", description="`<key>.<ext>` as found in a *_url field")


@router.get("/{name}", responses={200: {"content": {"image/png": {}, "video/mp4": {}, "audio/wav": {}}}, 404: {"model": ErrorResponse}})
def get_artifact(engine: EngineDep, name: str = ArtifactName) -> FileResponse:
    key, ext = name.split(".")
    record = engine.deps.store.get(key)
    if record is None or record.extension != ext:
        raise NotFound(f"artifact '{name}' does not exist")
    return FileResponse(engine.deps.store.path_of(record), media_type=record.media_type, headers={"Cache-Control": "public, max-age=31536000, immutable"})
