"""Editor exports of a render, built from its stored edit decisions (pipeline/timeline.py).

Layout, the same in every format:
- video: each shot's segment (what the final video is cut from), in whole frames; with a crossfade,
  shot i's clip ends ``out`` frames before its segment does and shot i+1's starts ``in`` frames into
  its segment (in + out = the crossfade), joined by a dissolve of in + out frames centred on that cut:
  exactly the frames the join overlapped. The segments carry the narration mixed in (muted in the
  Jianying draft) and, when the render had them, burned-in subtitles;
- audio: each shot's narration where the segment plays it (lead-in after the segment starts), on as
  many tracks as overlapping narrations need;
- subtitles: each cue where the final video shows it (OTIO: markers on the timeline's stack;
  Jianying: text segments), and the SRT beside the media.

Media are named as in the story's zip (pipeline/files.py); ``media_root`` is put in front of each name.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from story2video.errors import ConfigurationError, InvalidRequest
from story2video.pipeline.timeline import RenderTimeline, TimelineShot
from story2video.storage.artifacts import ArtifactStore

OTIO_FORMATS = {"otio": "otio_json", "fcpxml": "fcpx_xml", "edl": "cmx_3600"}
FCPX_RATES = (24, 25, 30, 50, 60)  # the whole frame rates Final Cut Pro X (and its OTIO adapter) has formats for
JIANYING_VERSION = "JianyingPro 5.9 draft (draft_content.json), as pyJianYingDraft 0.3 writes it"


def shot_media_folder(shot: TimelineShot) -> str:
    return f"shots/{shot.sequence:03d}-{shot.shot_id}"


@dataclass(frozen=True)
class Placed:
    """Where one piece of media sits: in the final video (record) and in its own file (source), seconds."""

    name: str  # its name in the story's zip
    record_start: float
    source_start: float
    duration: float


@dataclass(frozen=True)
class Cut:
    """A shot's segment on the video track, in frames of the render."""

    shot: TimelineShot
    record_start: int  # its cut-in, in the final video
    source_start: int  # its first frame shown, in its segment
    frames: int  # shown from cut-in to cut-out
    tail: int  # frames of its segment after the cut-out that the dissolve into the next shot shows


def video_cuts(timeline: RenderTimeline) -> list[Cut]:
    """The video track: each segment trimmed to its cut points (see the module's docstring)."""
    fade = timeline.fade_frames
    before, after = fade // 2, fade - fade // 2  # frames of a dissolve before and after its cut
    count = len(timeline.shots)
    cuts = []
    for index, shot in enumerate(timeline.shots):
        trim_in = before if index > 0 else 0  # the dissolve in shows `before` frames of it ahead of its cut-in
        trim_out = after if index < count - 1 else 0  # the dissolve out shows `after` frames of it past its cut-out
        start = timeline.start_frame(index) + trim_in
        cuts.append(Cut(shot, start, trim_in, shot.frames - trim_in - trim_out, trim_out))
    return cuts


def narration_lanes(timeline: RenderTimeline) -> list[list[Placed]]:
    """Narrations placed where the segments play them, packed onto as few lanes as never overlap."""
    lanes: list[list[Placed]] = []
    for index, shot in enumerate(timeline.shots):
        start = timeline.start_frame(index) / timeline.fps + shot.narration_start
        placed = Placed(f"{shot_media_folder(shot)}/narration.wav", start, 0.0, shot.narration_duration)
        for lane in lanes:
            if lane[-1].record_start + lane[-1].duration <= start + 1e-9:
                lane.append(placed)
                break
        else:
            lanes.append([placed])
    return lanes


def subtitle_cues(timeline: RenderTimeline) -> list[tuple[float, float, str]]:
    """(start, end, text) of every cue, in seconds of the final video."""
    cues = []
    for index, shot in enumerate(timeline.shots):
        offset = timeline.start_frame(index) / timeline.fps
        cues.extend((offset + cue.start, offset + cue.end, cue.text) for cue in shot.cues)
    return cues


# ------------------------------------------------------------------ OpenTimelineIO


def _otio():
    try:
        import opentimelineio
    except ImportError as error:  # pragma: no cover - a requirement of the service
        raise ConfigurationError("editor exports need OpenTimelineIO: pip install opentimelineio otio-fcpx-xml-adapter otio-cmx3600-adapter") from error
    return opentimelineio


def otio_timeline(timeline: RenderTimeline, name: str, media_root: str = "", *, with_audio: bool = True, with_markers: bool = True):
    """The render as an OpenTimelineIO timeline (rate = the render's fps)."""
    otio = _otio()
    rate = float(timeline.fps)

    def frames(value: float):
        return otio.opentime.RationalTime(value, rate)

    def seconds(value: float):
        return otio.opentime.RationalTime(value * rate, rate)

    result = otio.schema.Timeline(name=name, global_start_time=frames(0))
    result.metadata["story2video"] = {"video": timeline.video, "subtitles": f"{media_root}subtitles.srt", "fps": timeline.fps}
    video = otio.schema.Track(name="Shots", kind=otio.schema.TrackKind.Video)
    fade = timeline.fade_frames
    for index, cut in enumerate(video_cuts(timeline)):
        if index > 0 and fade:
            video.append(
                otio.schema.Transition(
                    name="Dissolve",
                    transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=frames(fade // 2),
                    out_offset=frames(fade - fade // 2),
                )
            )
        media_name = f"{shot_media_folder(cut.shot)}/segment.mp4"
        reference = otio.schema.ExternalReference(
            target_url=media_root + media_name, available_range=otio.opentime.TimeRange(frames(0), frames(cut.shot.frames))
        )
        video.append(
            otio.schema.Clip(
                name=cut.shot.shot_id,
                media_reference=reference,
                source_range=otio.opentime.TimeRange(frames(cut.source_start), frames(cut.frames)),
                metadata={"story2video": {"shot_id": cut.shot.shot_id, "segment": cut.shot.segment, "clip": cut.shot.clip}},
            )
        )
    result.tracks.append(video)
    if with_audio:
        for number, lane in enumerate(narration_lanes(timeline), start=1):
            track = otio.schema.Track(name=f"Narration {number}", kind=otio.schema.TrackKind.Audio)
            position = 0.0
            for placed in lane:
                if placed.record_start > position:
                    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(seconds(0), seconds(placed.record_start - position))))
                reference = otio.schema.ExternalReference(
                    target_url=media_root + placed.name, available_range=otio.opentime.TimeRange(seconds(0), seconds(placed.duration))
                )
                track.append(
                    otio.schema.Clip(
                        name=placed.name.split("/")[1],
                        media_reference=reference,
                        source_range=otio.opentime.TimeRange(seconds(placed.source_start), seconds(placed.duration)),
                    )
                )
                position = placed.record_start + placed.duration
            result.tracks.append(track)
    if with_markers:
        for start, end, text in subtitle_cues(timeline):
            result.tracks.markers.append(
                otio.schema.Marker(
                    name=text,
                    marked_range=otio.opentime.TimeRange(seconds(start), seconds(end - start)),
                    metadata={"story2video": {"subtitle": True}},
                )
            )
    return result


def otio_export(timeline: RenderTimeline, name: str, export_format: str, media_root: str = "") -> str:
    """The timeline written by OTIO's own adapter: ``otio`` (native JSON), ``fcpxml`` (Final Cut Pro X XML)
    or ``edl`` (CMX 3600: one video track, as the format has; narration and subtitles are not in it)."""
    otio = _otio()
    if export_format not in OTIO_FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(OTIO_FORMATS)}", param="format")
    if export_format == "fcpxml" and timeline.fps not in FCPX_RATES:
        raise InvalidRequest(
            f"FCPXML has no {timeline.fps} fps format; render at one of {', '.join(map(str, FCPX_RATES))} fps (fps in the render request)",
            param="format",
        )
    if export_format == "edl":
        built = otio_timeline(timeline, name, media_root, with_audio=False, with_markers=False)
    else:
        built = otio_timeline(timeline, name, media_root)
    try:
        return otio.adapters.write_to_string(built, adapter_name=OTIO_FORMATS[export_format])
    except otio.exceptions.NoKnownAdapterForExtensionError as error:  # pragma: no cover - adapters are requirements
        raise ConfigurationError(f"the OTIO adapter '{OTIO_FORMATS[export_format]}' is not installed") from error


# ------------------------------------------------------------------ Jianying (CapCut China) draft


def jianying_draft(store: ArtifactStore, timeline: RenderTimeline, paths: dict[str, Path], draft_name: str, draft_folder: str) -> dict[str, Any]:
    """(draft_content.json, draft_meta_info.json) of a Jianying draft of the render, made with pyJianYingDraft.

    ``paths``: the zip name of each medium -> its file here (pyJianYingDraft measures them). In the draft
    every medium is ``<draft_folder>/<draft_name>/materials/<file>``: Jianying takes absolute paths only,
    so ``draft_folder`` is the user's Jianying drafts folder; the zip puts the media there."""
    try:
        import pyJianYingDraft as jy
    except ImportError as error:  # pragma: no cover - a requirement of the service
        raise ConfigurationError("the Jianying export needs pyJianYingDraft: pip install pyJianYingDraft") from error
    us = 1_000_000
    fps = timeline.fps

    def frames_us(count: int) -> int:
        return round(count * us / fps)

    script = jy.ScriptFile(timeline.width, timeline.height, fps, maintrack_adsorb=False)
    script.append_track(jy.TrackSpec(jy.TrackType.video, name="shots"))
    materials: dict[str, Any] = {}
    for cut in video_cuts(timeline):
        name = f"{shot_media_folder(cut.shot)}/segment.mp4"
        material = materials.setdefault(name, jy.VideoMaterial(str(paths[name]), material_name=_flat(name)))
        start, end = frames_us(cut.record_start), frames_us(cut.record_start + cut.frames)
        source = frames_us(cut.source_start)
        length = min(end - start, material.duration - source)  # MediaInfo measures in whole milliseconds
        segment = jy.VideoSegment(material, jy.Timerange(start, length), source_timerange=jy.Timerange(source, length), volume=0.0)
        if cut.tail and timeline.fade_frames:
            segment.add_transition(jy.TransitionType.叠化, duration=frames_us(timeline.fade_frames))
        script.add_segment(segment, "shots")
    for number, lane in enumerate(narration_lanes(timeline), start=1):
        track = f"narration{number}"
        script.append_track(jy.TrackSpec(jy.TrackType.audio, name=track))
        for placed in lane:
            material = materials.setdefault(placed.name, jy.AudioMaterial(str(paths[placed.name]), material_name=_flat(placed.name)))
            start, length = round(placed.record_start * us), round(placed.duration * us)
            length = min(length, material.duration)
            script.add_segment(jy.AudioSegment(material, jy.Timerange(start, length), source_timerange=jy.Timerange(0, length)), track)
    lanes: list[int] = []  # the end (µs) of each subtitle track's last cue
    for start_s, end_s, text in subtitle_cues(timeline):
        start, end = round(start_s * us), round(end_s * us)
        lane = next((index for index, last in enumerate(lanes) if last <= start), None)
        if lane is None:
            lanes.append(0)
            lane = len(lanes) - 1
            script.append_track(jy.TrackSpec(jy.TrackType.text, name=f"subtitles{lane + 1}"))
        lanes[lane] = end
        script.add_segment(jy.TextSegment(text, jy.Timerange(start, end - start)), f"subtitles{lane + 1}")
    content = json.loads(script.dumps())
    where = f"{draft_folder.rstrip('/')}/{draft_name}/materials/" if draft_folder else "materials/"
    flat_names = {str(Path(paths[name]).resolve()): _flat(name) for name in materials}
    for kind in ("videos", "audios"):
        for material in content["materials"].get(kind, []):
            material["path"] = where + flat_names[str(Path(material["path"]).resolve())]
    meta = _draft_meta(content, draft_name, draft_folder)
    return {"draft_content.json": content, "draft_meta_info.json": meta}


def _flat(name: str) -> str:
    """A zip name as one file name in the draft's materials folder."""
    return name.replace("/", "_")


def _draft_meta(content: dict, draft_name: str, draft_folder: str) -> dict:
    from pyJianYingDraft import assets

    meta = json.loads(Path(assets.get_asset_path("DRAFT_META_TEMPLATE")).read_text("utf-8"))
    meta.update(
        draft_id=str(uuid.uuid4()).upper(),
        draft_name=draft_name,
        draft_fold_path=f"{draft_folder.rstrip('/')}/{draft_name}" if draft_folder else "",
        tm_duration=content["duration"],
    )
    return meta
