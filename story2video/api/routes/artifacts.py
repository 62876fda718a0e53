"""Finished artifacts, by content key. Only recorded (complete, validated) files are ever served.

With API keys on, a link must carry a valid, unexpired signature (the links in responses do):
anything else is answered as if the artifact did not exist.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse

from story2video.api import examples
from story2video.api.deps import EngineDep
from story2video.protocol import ErrorResponse
from story2video.errors import NotFound

router = APIRouter(prefix="/api/v1/artifacts", tags=["artifacts"])
ArtifactName = Path(
    pattern=r"^[0-9a-f]{64}\.(png|wav|m4a|mp4|srt)$",
    description="`<key>.<ext>` as found in a *_url field",
    openapi_examples=examples.parameter(examples.ARTIFACT_NAME),
)
# Shown, not pre-filled in /docs: a made-up signature would only turn a good request into a 404.
SIGNED_EXPIRES = Query(None, max_length=20, description="Signed links only (API keys on)", examples=["1767225600"])
SIGNED_SIG = Query(None, max_length=128, description="Signed links only (API keys on)", examples=["4e1c7b0a9d2f8e3b6a5c4d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"])


@router.get("/{name}", responses={200: {"content": {"image/png": {}, "video/mp4": {}, "audio/wav": {}, "audio/mp4": {}}}, 404: {"model": ErrorResponse}})
def get_artifact(
    request: Request,
    engine: EngineDep,
    name: str = ArtifactName,
    expires: str | None = SIGNED_EXPIRES,
    sig: str | None = SIGNED_SIG,
) -> FileResponse:
    missing = NotFound(f"artifact '{name}' does not exist")
    signer = request.app.state.artifact_signer
    if signer is not None and not signer.valid(name, expires, sig):
        raise missing
    key, ext = name.split(".")
    record = engine.deps.store.get(key)
    if record is None or record.extension != ext:
        raise missing
    cache = "private, max-age=3600" if signer is not None else "public, max-age=31536000, immutable"
    return FileResponse(engine.deps.store.path_of(record), media_type=record.media_type, headers={"Cache-Control": cache})
