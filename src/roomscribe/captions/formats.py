"""Caption and transcript files: WebVTT, SRT, plain text and JSON from a transcription.

WebVTT is what browsers play (`<track>`), SRT what video editors import, the text a readable
transcript and the JSON everything Whisper said, word timings included. VTT and SRT are written
with webvtt-py, which does not check what it writes, so `render` runs the caption validator on
its own output and refuses to return a file that breaks a hard rule.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from typing import Literal, Protocol

import webvtt

from roomscribe.asr.results import Segment
from roomscribe.captions.cues import Cue, build_cues, clean_speaker, speaker_label, to_ms
from roomscribe.captions.validator import CaptionRulesBroken, validate_srt, validate_vtt
from roomscribe.errors import InvalidInput

Format = Literal["vtt", "srt", "txt", "json"]
FORMATS: tuple[Format, ...] = ("vtt", "srt", "txt", "json")

PARAGRAPH_PAUSE = 2.0
"""Seconds of silence that end a paragraph of the text transcript even without a new speaker."""
PARAGRAPH_SECONDS = 60.0
"""A paragraph of one long monologue ends at the next segment after this many seconds."""


def render(segments: Sequence[Segment], fmt: str, *, max_line: int = 42) -> str:
    """The file `fmt` for `segments`; VTT and SRT are validated before they are returned."""
    if fmt == "vtt":
        return _checked("WebVTT", to_vtt(build_cues(segments, max_line=max_line)),
                        validate_vtt, max_line)
    if fmt == "srt":
        cues = build_cues(segments, max_line=max_line, speaker_labels=True)
        return _checked("SRT", to_srt(cues, max_line=max_line), validate_srt, max_line)
    if fmt == "txt":
        return to_text(segments)
    if fmt == "json":
        return to_json(segments)
    raise InvalidInput(f"unknown caption format {fmt!r}; choose one of {', '.join(FORMATS)}")


class _Validator(Protocol):
    def __call__(self, text: str, *, max_line: int) -> list[str]: ...


def _checked(name: str, text: str, validate: _Validator, max_line: int) -> str:
    problems = validate(text, max_line=max_line)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CaptionRulesBroken(f"refusing to write a {name} file that breaks caption rules: "
                                 f"{problems[0]}{more}")
    return text


def vtt_escape(text: str) -> str:
    """Cue text as WebVTT needs it: `&`, `<` and `>` as entities (`-->` would end the cue)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clock(seconds: float) -> tuple[int, int, int, int]:
    """Hours, minutes, seconds and milliseconds of a time in seconds."""
    hours, rest = divmod(to_ms(max(seconds, 0.0)), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return hours, minutes, secs, millis


def _timestamp(seconds: float) -> str:
    hours, minutes, secs, millis = _clock(seconds)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def to_vtt(cues: Iterable[Cue]) -> str:
    """A WebVTT file of numbered cues, with a `<v Name>` voice span where the speaker is known."""
    captions = []
    for number, cue in enumerate(cues, start=1):
        lines = [vtt_escape(line) for line in cue.lines]
        name = clean_speaker(cue.speaker)
        if name is not None and lines:
            lines[0] = f"<v {vtt_escape(name)}>{lines[0]}"
        captions.append(webvtt.Caption(_timestamp(cue.start), _timestamp(cue.end),
                                       lines, identifier=str(number)))
    return str(webvtt.WebVTT(captions=captions).content)


class _VerbatimCaption(webvtt.Caption):
    """A caption whose SRT text is written exactly as spoken.

    SRT has no escapes, and webvtt-py's SRT writer deletes anything shaped like a tag, which
    would silently drop words such as "<b>" from the transcript.
    """

    @property
    def text(self) -> str:
        return self.raw_text

    @text.setter
    def text(self, value: str) -> None:
        self.lines = value.split("\n")


def to_srt(cues: Iterable[Cue], *, max_line: int = 42) -> str:
    """An SRT file: comma timestamps, `Name: ` before each cue whose speaker is known.

    Build the cues with `speaker_labels=True` and the same `max_line`, so the labels fit.
    """
    captions: list[webvtt.Caption] = []
    for cue in cues:
        lines = list(cue.lines)
        if lines:
            lines[0] = speaker_label(cue.speaker, max_line) + lines[0]
        # An SRT reader takes any line with "-->" for the timings of a new cue; a speaker's
        # name is cue text too.
        lines = [line.replace("-->", "→") for line in lines]
        captions.append(_VerbatimCaption(_timestamp(cue.start), _timestamp(cue.end),
                                         lines))
    out = io.StringIO()
    webvtt.WebVTT(captions=captions).write(out, format="srt")
    text = out.getvalue()
    return text + "\n" if text else text


def _paragraphs(segments: Sequence[Segment]) -> list[list[Segment]]:
    """Segments grouped by speaker turn, split again at long pauses and after a minute."""
    groups: list[list[Segment]] = []
    for seg in segments:
        if not seg.text.strip():
            continue
        if groups:
            group = groups[-1]
            same = clean_speaker(seg.speaker) == clean_speaker(group[0].speaker)
            if (same and seg.start - group[-1].end < PARAGRAPH_PAUSE
                    and seg.start - group[0].start < PARAGRAPH_SECONDS):
                group.append(seg)
                continue
        groups.append([seg])
    return groups


def to_text(segments: Sequence[Segment]) -> str:
    """A readable transcript: one paragraph a turn, each opening with `[hh:mm:ss] Name:`."""
    paragraphs = []
    for group in _paragraphs(segments):
        hours, minutes, secs, _ = _clock(group[0].start)
        stamp = f"{hours:02d}:{minutes:02d}:{secs:02d}"
        name = clean_speaker(group[0].speaker)
        text = " ".join(" ".join(seg.text.split()) for seg in group)
        paragraphs.append(f"[{stamp}] {name}: {text}" if name else f"[{stamp}] {text}")
    return "\n\n".join(paragraphs) + "\n" if paragraphs else ""


def to_json(segments: Sequence[Segment]) -> str:
    """Every segment with its speaker and word timings, for tools and re-rendering."""
    data = {"segments": [
        {
            "start": seg.start,
            "end": seg.end,
            "text": seg.text,
            "speaker": seg.speaker,
            "words": [{"start": w.start, "end": w.end, "text": w.text,
                       "probability": w.probability} for w in seg.words],
        }
        for seg in segments
    ]}
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
