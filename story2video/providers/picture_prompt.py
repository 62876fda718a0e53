"""The one wording of a keyframe's picture prompt, shared by every image backend.

A shot is worded the same for DashScope, Volcengine, ComfyUI and in-process diffusers: its detail,
its subject when the detail does not name it, each character in it as ``Name: appearance`` with the
appearance copied verbatim (so a character is described identically in every shot it is in), then
the style. Each part is one sentence; the punctuation and the two labels ("Style", "Avoid") follow
the detail's language, Chinese or English. Nothing the user wrote is translated or reworded.

What the picture must not show is the negative prompt: the request's own, then the backend's
configured one, then, when burned-in subtitles will carry the narration, lettering of any kind (the
words would compete with the subtitles and crowd their band). A backend, workflow or pipeline with no
negative-prompt input gets the same words as a closing "Avoid: ..." sentence instead (``inline``).
"""

from __future__ import annotations

from dataclasses import dataclass

from story2video.providers.base import CharacterLook, ImageRequest
from story2video.providers.preview.text import script_language

SENTENCE_ENDS = tuple(".!?。！？…")
CLOSING_MARKS = "\"'”’」』)）"


@dataclass(frozen=True)
class Wording:
    stop: str  # ends a sentence
    gap: str  # between two sentences
    label: str  # between a name or label and what it names
    comma: str  # between the items of the negative prompt
    style: str
    avoid: str
    lettering: str  # what a subtitled picture must not show


WORDINGS = {
    "en": Wording(".", " ", ": ", ", ", "Style", "Avoid", "text, letters, captions, subtitles, watermark"),
    "zh": Wording("。", "", "：", "，", "风格", "避免", "文字，字母，字幕，水印"),
}


@dataclass(frozen=True)
class PicturePrompt:
    text: str  # what the picture shows
    negative: str  # what it must not show; "" when nothing
    inline: str  # ``text`` with ``negative`` as a closing sentence, for a backend with no negative-prompt input

    def for_backend(self, takes_negative: bool) -> tuple[str, str]:
        """(prompt, negative prompt) for a backend that has a negative-prompt input or not."""
        return (self.text, self.negative) if takes_negative else (self.inline, "")


def picture_prompt(request: ImageRequest, backend_negative: str = "") -> PicturePrompt:
    """The prompt for ``request``; ``backend_negative`` is the backend's configured negative prompt."""
    detail, subject, style = request.prompt.strip(), request.subject.strip(), request.style.strip()
    wording = WORDINGS[script_language(detail or subject)]
    parts = [detail]
    if subject and subject.casefold() not in detail.casefold():
        parts.append(subject)
    parts += [_look(character, wording) for character in dict.fromkeys(request.characters)]
    if style:
        parts.append(f"{wording.style}{wording.label}{style}")
    text = _sentences(parts, wording)
    unwanted = [request.negative_prompt, backend_negative, wording.lettering if request.subtitled else ""]
    negative = wording.comma.join(part.strip() for part in unwanted if part.strip())
    inline = _sentences([text, f"{wording.avoid}{wording.label}{negative}" if negative else ""], wording)
    return PicturePrompt(text=text, negative=negative, inline=inline)


def _look(character: CharacterLook, wording: Wording) -> str:
    """``Name: appearance``, the appearance as written; nothing for a character without one."""
    name, appearance = character.name.strip(), character.appearance.strip()
    if not appearance:
        return ""
    return f"{name}{wording.label}{appearance}" if name else appearance


def _sentences(parts: list[str], wording: Wording) -> str:
    return wording.gap.join(_ended(part, wording) for part in parts if part)


def _ended(part: str, wording: Wording) -> str:
    return part if part.rstrip(CLOSING_MARKS).endswith(SENTENCE_ENDS) else part + wording.stop
