"""A rule-based storyboard: the script cut into shots of whole sentences, no model involved."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from story2video.errors import InvalidRequest
from story2video.providers.base import BackendStatus, StageContext, Storyboard, StoryboardRequest
from story2video.providers.preview.cast import CastReader
from story2video.providers.preview.segment import Timeline, TooFewPieces, plan_shots
from story2video.providers.preview.text import script_language, tokenize
from story2video.providers.preview.wording import describe_shots


class PreviewStoryboardWriter:
    backend = "preview"
    model = "rule-based-v2"

    def __init__(self, max_shot_seconds: float):
        self.max_shot_seconds = max_shot_seconds

    async def write(self, request: StoryboardRequest, ctx: StageContext) -> Storyboard:
        ctx.raise_if_cancelled()
        drafts = await asyncio.to_thread(build_storyboard, request, self.max_shot_seconds)
        ctx.progress(1.0)
        return drafts

    async def status(self) -> BackendStatus:
        return BackendStatus(
            stage="storyboard",
            backend=self.backend,
            model=self.model,
            ready=True,
            detail=(
                f"rule-based: whole sentences, at most about {self.max_shot_seconds:g} s of narration a shot; "
                "no model needed"
            ),
        )


def build_storyboard(request: StoryboardRequest, max_shot_seconds: float) -> Storyboard:
    low, high = _shot_range(request)
    tokens = tokenize(request.script)
    if not tokens.atoms:
        raise InvalidRequest("the script contains no words to narrate", param="script_content")
    try:
        spans = plan_shots(Timeline(tokens), max_shot_seconds, low, high)
    except TooFewPieces as short:
        raise _too_short(short.possible, low, exact=request.shot_count is not None) from None
    narrations = [tokens.slice(first, stop) for first, stop in spans]
    language = script_language(request.script)
    drafts = describe_shots(narrations, language, request.style)
    reader = CastReader(language, request.script)
    lines = [reader.lines_of(draft.narration) for draft in drafts]  # meets the whole cast first
    shots = [
        replace(draft, lines=said, characters=reader.present_in(draft.narration, said))
        for draft, said in zip(drafts, lines, strict=True)
    ]
    return Storyboard(shots=shots, cast=reader.cast())


def _shot_range(request: StoryboardRequest) -> tuple[int, int]:
    if request.shot_count is not None:
        if request.shot_count < 1:
            raise InvalidRequest("shot_count must be at least 1", param="shot_count")
        return request.shot_count, request.shot_count
    if request.min_shots < 1 or request.max_shots < request.min_shots:
        raise InvalidRequest(
            f"need 1 <= min_shots <= max_shots, got {request.min_shots}..{request.max_shots}", param="max_shots"
        )
    return request.min_shots, request.max_shots


def _too_short(possible: int, wanted: int, *, exact: bool) -> InvalidRequest:
    if exact:
        return InvalidRequest(
            f"the script is too short for shot_count={wanted}: cut only between sentences and at clause marks, "
            f"it makes at most {possible} shot(s)",
            param="shot_count",
        )
    return InvalidRequest(
        f"the script is too short: cut only between sentences and at clause marks, it makes at most {possible} "
        f"shot(s), and this service is set to make at least {wanted} (DEFAULT_MIN_SHOTS)",
        param="script_content",
    )
