"""Background music under the narration: a file or a generated ambient pad, lowered and ducked.

The bed is looped/trimmed to the video's length, lowered by ``MUSIC_GAIN_DB``, faded in and out,
then compressed by the narration (``sidechaincompress``) so it dips while someone speaks.
"""

from __future__ import annotations

from pathlib import Path

import ffmpeg as ff
from ffmpeg.nodes import FilterableStream

MUSIC_GAIN_DB = -18.0
FADE_IN_S = 1.0
FADE_OUT_S = 2.5
# Ducking: narration above about -30 dBFS pulls the music down (4:1), recovering over half a second.
DUCK_THRESHOLD = 0.03
DUCK_RATIO = 4
DUCK_ATTACK_MS = 20
DUCK_RELEASE_MS = 500

# The generated pad: two soft chords (A minor, F major 7) that swap every 8 s under a slow
# tremolo. All frequencies are multiples of 1/16 Hz, so the 16 s cycle loops without a click and is
# rendered once, at a low sample rate (the highest partial is 330 Hz), then looped.
PAD_CYCLE_S = 16
PAD_RATE = 8000
_CHORD_A = ((110.0, 1.0), (164.8125, 0.8), (220.0, 0.6), (261.625, 0.5), (329.625, 0.4))
_CHORD_B = ((87.3125, 1.0), (130.8125, 0.8), (220.0, 0.6), (261.625, 0.5), (329.625, 0.4))
_PAD_LEVEL = 0.2  # peak about 0.66 before MUSIC_GAIN_DB, like a mastered track


def music_bed(music: Path | None, duration: float, rate: int) -> FilterableStream:
    """Stereo music at ``rate`` Hz, exactly ``duration`` s long, lowered and faded in and out.

    ``music`` None means the generated pad.
    """
    if music is not None:
        source = ff.input(str(music), stream_loop=-1).audio
    else:
        source = _generated_pad()
    fade_out = min(FADE_OUT_S, duration / 3)
    return (
        source.filter("aresample", rate)
        .filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
        .filter("atrim", duration=f"{duration:.6f}")
        .filter("asetpts", "PTS-STARTPTS")
        .filter("volume", f"{MUSIC_GAIN_DB:g}dB")
        .filter("afade", t="in", d=f"{min(FADE_IN_S, duration / 3):.3f}")
        .filter("afade", t="out", st=f"{duration - fade_out:.6f}", d=f"{fade_out:.3f}")
    )


def duck_under(narration: FilterableStream, bed: FilterableStream) -> FilterableStream:
    """Narration over the bed, the bed compressed whenever the narration is audible."""
    split = narration.filter_multi_output("asplit")
    voice, key = split.stream(0), split.stream(1)
    ducked = ff.filter(
        [bed, key],
        "sidechaincompress",
        threshold=DUCK_THRESHOLD,
        ratio=DUCK_RATIO,
        attack=DUCK_ATTACK_MS,
        release=DUCK_RELEASE_MS,
    )
    return ff.filter([voice, ducked], "amix", inputs=2, duration="first", dropout_transition=0, normalize=0)


def _generated_pad() -> FilterableStream:
    left = _pad_expression(tremolo_phase="0")
    right = _pad_expression(tremolo_phase="PI/2")
    source = ff.input(
        f"aevalsrc=exprs={left}|{right}:sample_rate={PAD_RATE}:duration={PAD_CYCLE_S}",
        f="lavfi",
    ).audio
    return source.filter("aloop", loop=-1, size=PAD_CYCLE_S * PAD_RATE)


def _pad_expression(*, tremolo_phase: str) -> str:
    swap = f"(0.5-0.5*cos(2*PI*t/{PAD_CYCLE_S}))"  # 0 → chord B at 8 s → 0
    tremolo = f"(0.8+0.2*sin(2*PI*t/4+{tremolo_phase}))"
    return f"{_PAD_LEVEL}*{tremolo}*((1-{swap})*{_chord(_CHORD_A)}+{swap}*{_chord(_CHORD_B)})"


def _chord(partials: tuple[tuple[float, float], ...]) -> str:
    return "(" + "+".join(f"{gain:g}*sin(2*PI*{freq:g}*t)" for freq, gain in partials) + ")"
