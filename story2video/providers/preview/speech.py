"""Offline narration with eSpeak NG, loaded through ctypes from the ``espeakng-loader`` package.

eSpeak NG keeps process-global state, and some of it (the pitch-flutter position, the harmonic
table toggle) survives ``espeak_Terminate`` and changes the next utterance. Byte-identical output
for the same request therefore needs a fresh library: every synthesis loads, initialises, uses and
unloads it, under one module-level lock (two loads of one path would share that state).
"""

from __future__ import annotations

import _ctypes
import array
import asyncio
import ctypes
import math
import sys
import threading
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from story2video.errors import BackendError, BackendUnavailable, InvalidRequest
from story2video.media.wav import write_mono_wav
from story2video.providers.base import BackendStatus, SpeechRequest, SpeechResult, StageContext, VoiceHints, WordTiming
from story2video.providers.preview.text import contains_han, split_sentences
from story2video.providers.voices import VoiceTable, pick_voice
from story2video.turns import turns

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_POS_CHARACTER = 1
_PARAM_RATE, _PARAM_PITCH = 1, 3
_EE_OK = 0
_EVENT_LIST_END, _EVENT_WORD, _EVENT_END = 0, 1, 5  # espeak_EVENT_TYPE: list terminator, word start, clause end

MIN_RATE, MAX_RATE, BASE_RATE = 80, 450, 175  # words per minute
BASE_PITCH = 50
_TONE_PITCH = {
    "欢快": 8,
    "joyful": 8,
    "紧张": 4,
    "tense": 4,
    "温暖": 2,
    "warm": 2,
    "神秘": -4,
    "mysterious": -4,
    "悲伤": -8,
    "sad": -8,
}
_CHUNK_CHARS = 400  # sentences are synthesised in chunks of about this size, checking for cancel between
_DEFAULT_VOICES = ("cmn", "en-us")  # for text with / without Chinese characters
_SUGGESTED_VOICES = ("cmn", "en-us", "en", "yue", "ja", "fr", "de", "es")
_INSTALL_HINT = "install espeakng-loader (see requirements-api.txt)"
# Variants of the bundled espeak-ng-data (voices/!v), added to the text's language as "+f2": each sets
# its own pitch range and formants, so they differ in pitch and timbre. Narrator: the language's own voice
# (pitch 82-118 Hz). Female variants sit near 140-240 Hz, male ones lower or with other formants.
CHARACTER_VOICES: VoiceTable = {
    "female": ["+f2", "+f4", "+f1", "+f3", "+f5"],
    "male": ["+m4", "+m2", "+m6", "+m1", "+m3", "+m7"],
    "any": ["+m2", "+f4", "+m6", "+f1"],
    "child": ["+zac", "+f5"],
    "old": ["+grandpa", "+grandma"],
    "female-child": ["+f5", "+zac"],
    "male-child": ["+zac"],
    "female-old": ["+grandma"],
    "male-old": ["+grandpa"],
    "female-deep": ["+f1", "+f4"],
    "female-bright": ["+f5", "+f3"],
    "male-deep": ["+m4", "+m1", "+m7"],
    "male-bright": ["+m2", "+m6"],
}

_LOCK = threading.Lock()


class _Event(ctypes.Structure):
    """espeak_EVENT: ``text_position`` counts characters from 1, ``audio_position`` is in ms."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # a union of int, const char * and char[8]
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_unload_library = _ctypes.dlclose if hasattr(_ctypes, "dlclose") else _ctypes.FreeLibrary  # POSIX / Windows


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated language)* then a 0 byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@dataclass(frozen=True)
class _Settings:
    voice: str
    rate: int
    pitch: int


class _Session:
    """One load of the library, from ``espeak_Initialize`` to unloading. Open only under ``_LOCK``."""

    def __enter__(self) -> _Session:
        try:
            import espeakng_loader

            self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
            _declare(self.lib)
        except (ImportError, OSError, AttributeError, RuntimeError) as exc:
            raise _unavailable(f"the eSpeak NG library could not be loaded ({exc})") from exc
        self.sample_rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            self._unload()
            raise _unavailable(f"eSpeak NG failed to initialise with its data at {data_path}")
        self._samples = bytearray()
        self._marks: list[tuple[int, int, int]] = []  # (event type, text position, audio ms)
        self._callback = _SynthCallback(self._collect)  # keep a reference: the library holds only the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.lib.espeak_Terminate()
        self._unload()

    def _unload(self) -> None:
        handle = self.lib._handle
        del self.lib
        _unload_library(handle)

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, events: ctypes._Pointer[_Event]) -> int:
        if count > 0:
            self._samples += ctypes.string_at(wav, count * 2)
        index = 0
        while events and events[index].type != _EVENT_LIST_END:
            event = events[index]
            if event.type in (_EVENT_WORD, _EVENT_END):
                self._marks.append((event.type, event.text_position, event.audio_position))
            index += 1
        return 0

    @property
    def version(self) -> str:
        return self.lib.espeak_Info(None).decode()

    def languages(self) -> list[str]:
        voices = self.lib.espeak_ListVoices(None)
        found: list[str] = []
        index = 0
        while voices[index]:
            found.extend(_voice_languages(voices[index].contents.languages))
            index += 1
        return found

    def select(self, settings: _Settings) -> None:
        if self.lib.espeak_SetVoiceByName(settings.voice.encode()) != _EE_OK:
            raise _unknown_voice(settings.voice, self.languages())
        self.lib.espeak_SetParameter(_PARAM_RATE, settings.rate, 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, settings.pitch, 0)

    def synthesize(self, text: str) -> tuple[bytes, list[WordTiming]]:
        """Little-endian 16-bit mono samples for ``text`` with the selected voice, and when each word
        is heard (seconds from the start of these samples)."""
        self._samples = bytearray()
        self._marks = []
        data = text.encode("utf-8") + b"\0"
        result = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
        if result != _EE_OK:
            raise BackendError(f"eSpeak NG synthesis failed (error {result})", stage="narration", backend="preview")
        words = _word_timings(text, self._marks)
        if sys.byteorder == "little":
            return bytes(self._samples), words
        samples = array.array("h", self._samples)
        samples.byteswap()
        return samples.tobytes(), words


def _word_timings(text: str, marks: list[tuple[int, int, int]]) -> list[WordTiming]:
    """Words from eSpeak's events: a word runs from its own event to the next word or clause end.
    Its text reaches to the next word's position (eSpeak's lengths are unreliable for Chinese)."""
    words = []
    for index, (kind, position, audio_ms) in enumerate(marks):
        if kind != _EVENT_WORD or index + 1 >= len(marks):
            continue
        following = marks[index + 1]
        later_word = next((mark for mark in marks[index + 1 :] if mark[0] == _EVENT_WORD), None)
        stop = later_word[1] - 1 if later_word else len(text)
        word = text[position - 1 : stop].strip().strip(_WORD_MARKS)
        if word:
            words.append(WordTiming(text=word, start=audio_ms / 1000, end=following[2] / 1000))
    return words


_WORD_MARKS = "，。、；：！？…,.;:!?\"'“”‘’「」『』()（）[]—-– "


def _declare(lib: ctypes.CDLL) -> None:
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Terminate.argtypes = []
    lib.espeak_Terminate.restype = ctypes.c_int
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int


def _voice_languages(pointer: int | None) -> list[str]:
    languages = []
    while pointer and ctypes.string_at(pointer, 1) != b"\0":
        name = ctypes.string_at(pointer + 1)
        languages.append(name.decode("utf-8", "replace"))
        pointer += 2 + len(name)
    return languages


def _unavailable(reason: str) -> BackendUnavailable:
    return BackendUnavailable(f"{reason}; {_INSTALL_HINT}", stage="narration", backend="preview")


def _unknown_voice(voice: str, languages: list[str]) -> InvalidRequest:
    known = [name for name in _SUGGESTED_VOICES if name in languages]
    return InvalidRequest(
        f"unknown voice {voice!r} for the espeak-ng backend; try one of: {', '.join(known)} "
        f"({len(set(languages))} languages available)",
        param="voice",
    )


class EspeakSpeechSynthesizer:
    backend = "preview"
    model = "espeak-ng"

    def voice_for(self, hints: VoiceHints, taken: Collection[str]) -> str:
        """A variant such as "+f2": the line's language comes from its text, as for the narrator."""
        return pick_voice(CHARACTER_VOICES, hints, taken)

    async def synthesize(self, request: SpeechRequest, dest: Path, ctx: StageContext) -> SpeechResult:
        settings = _settings(request)
        chunks = _chunks(request.text)
        await asyncio.to_thread(_check_voice, settings)
        if not chunks:
            raise BackendError("the narration has nothing speakable", stage="narration", backend=self.backend)
        pcm, sample_rate, words = bytearray(), 0, []
        for done, chunk in enumerate(chunks, start=1):
            ctx.raise_if_cancelled()
            samples, chunk_words, sample_rate = await turns.in_thread(ctx, _synthesize_chunk, settings, chunk)
            offset = len(pcm) / 2 / sample_rate
            words += [WordTiming(word.text, word.start + offset, word.end + offset) for word in chunk_words]
            pcm += samples
            ctx.progress(0.95 * done / len(chunks))
        if not any(pcm):
            raise BackendError(
                "eSpeak NG produced only silence for the narration", stage="narration", backend=self.backend
            )
        await asyncio.to_thread(write_mono_wav, dest, bytes(pcm), sample_rate)
        ctx.progress(1.0)
        duration = len(pcm) / 2 / sample_rate
        words = [WordTiming(word.text, min(word.start, duration), min(word.end, duration)) for word in words]
        return SpeechResult(duration=duration, sample_rate=sample_rate, voice=settings.voice, words=tuple(words))

    async def status(self) -> BackendStatus:
        try:
            ready, detail = await asyncio.to_thread(_check_engine)
        except BackendUnavailable as exc:
            ready, detail = False, exc.message
        return BackendStatus(stage="narration", backend=self.backend, model=self.model, ready=ready, detail=detail)


def _settings(request: SpeechRequest) -> _Settings:
    if not (math.isfinite(request.speed) and request.speed > 0):
        raise InvalidRequest(f"speed must be a positive number, got {request.speed}", param="speed")
    language = _DEFAULT_VOICES[0] if contains_han(request.text) else _DEFAULT_VOICES[1]
    voice = request.voice.strip() or language
    if voice.startswith("+"):  # a variant alone: spoken in the text's language
        voice = language + voice
    rate = min(MAX_RATE, max(MIN_RATE, round(BASE_RATE * request.speed)))
    pitch = BASE_PITCH + _TONE_PITCH.get(request.tone.strip().lower(), 0)
    return _Settings(voice=voice, rate=rate, pitch=pitch)


def _chunks(text: str) -> list[str]:
    """Speakable sentences, grouped into chunks of about ``_CHUNK_CHARS`` characters."""
    chunks: list[str] = []
    for sentence in split_sentences(text):
        if not any(unicodedata.category(char)[0] in "LN" for char in sentence):
            continue
        if chunks and len(chunks[-1]) + len(sentence) <= _CHUNK_CHARS:
            chunks[-1] += " " + sentence
        else:
            chunks.append(sentence)
    return chunks


def _check_voice(settings: _Settings) -> None:
    with _LOCK, _Session() as session:
        session.select(settings)


def _synthesize_chunk(settings: _Settings, text: str) -> tuple[bytes, list[WordTiming], int]:
    with _LOCK, _Session() as session:
        session.select(settings)
        samples, words = session.synthesize(text)
        return samples, words, session.sample_rate


def _check_engine() -> tuple[bool, str]:
    with _LOCK, _Session() as session:
        languages = session.languages()
        missing = [voice for voice in _DEFAULT_VOICES if voice not in languages]
        summary = f"eSpeak NG {session.version}, {len(set(languages))} languages, {session.sample_rate} Hz"
    if missing:
        return False, f"{summary}; missing the voice(s) {', '.join(missing)}"
    return True, summary
