"""Captions of human speech from the real model: every format, every rule, strict parsers.

Three LibriSpeech utterances (one with no known speaker) and the two-minute recording where twelve
readers take turns, labelled from its `.segments.tsv` as a room labels each speaker's track.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from itertools import groupby

import pytest
import webvtt

from helpers.speech import SPEECH_DIR, clips
from roomscribe.asr.engine import Transcriber
from roomscribe.asr.results import Segment, Word
from roomscribe.captions.cues import build_cues, speaker_label
from roomscribe.captions.formats import render
from roomscribe.captions.validator import check_srt, check_vtt, parse_vtt
from roomscribe.media.ffmpeg import decode

pytestmark = pytest.mark.model

MULTI = SPEECH_DIR / "longform" / "test_clean_multispeaker.wav"
MAX_LINES = [32, 37, 42]
BOUND = {"the", "a", "an", "of", "to", "my", "your", "our", "their", "in", "on", "at", "for",
         "with", "from", "by", "into"}


def turns() -> list[tuple[float, float, str]]:
    with MULTI.with_suffix(".segments.tsv").open(encoding="utf-8") as fh:
        return [(float(r["start"]), float(r["end"]), r["speaker"])
                for r in csv.DictReader(fh, delimiter="\t")]


def speaker_at(t: float, spans: list[tuple[float, float, str]]) -> str:
    """Who was reading at `t`: the turn containing it, or else the nearest one."""
    return min(spans, key=lambda s: 0.0 if s[0] <= t <= s[1] else min(abs(t - s[0]),
                                                                     abs(t - s[1])))[2]


def labelled(segments: list[Segment], spans: list[tuple[float, float, str]]) -> list[Segment]:
    """Segments split where the reader changes, each labelled with its reader."""
    out = []
    for seg in segments:
        for speaker, run in groupby(seg.words, key=lambda w: speaker_at((w.start + w.end) / 2,
                                                                       spans)):
            words = tuple(run)
            out.append(Segment(words[0].start, words[-1].end, " ".join(w.text for w in words),
                               words, speaker))
    return out


@pytest.fixture(scope="module")
def recordings(transcriber: Transcriber) -> dict[str, list[Segment]]:
    short = sorted((c for c in clips("librispeech_test_clean") if 7 <= c.seconds <= 10),
                   key=lambda c: c.seconds)[:3]
    assert len(short) == 3
    found = {}
    for n, clip in enumerate(short):
        segments = transcriber.transcribe(decode(clip.path))
        speaker = None if n == 0 else clip.speaker
        found[clip.path.name] = [Segment(s.start, s.end, s.text, s.words, speaker)
                                 for s in segments]
    found[MULTI.name] = labelled(transcriber.transcribe(decode(MULTI)), turns())
    assert all(found.values()), "the model heard nothing in a recording"
    return found


def words(segments: list[Segment]) -> list[Word]:
    return [w for s in segments for w in s.words]


def squeezed(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("max_line", MAX_LINES)
def test_vtt_keeps_every_rule_and_every_word(recordings: dict[str, list[Segment]],
                                             max_line: int) -> None:
    for name, segments in recordings.items():
        vtt = render(segments, "vtt", max_line=max_line)
        report = check_vtt(vtt, max_line=max_line)
        assert report.hard == (), name
        assert report.soft == (), f"{name}: reading rate broken where speech allowed"
        parsed = webvtt.from_string(vtt, strict=True).captions
        cues = build_cues(segments, max_line=max_line)
        assert len(parsed) == len(cues) == len(parse_vtt(vtt)[0]) > 0
        assert [c.voice for c in parsed] == [c.speaker for c in cues]
        shown = "".join(html.unescape(c.text) for c in parsed)
        assert squeezed(shown) == squeezed("".join(w.text for w in words(segments)))


@pytest.mark.parametrize("max_line", MAX_LINES)
def test_srt_keeps_every_rule_and_every_word(recordings: dict[str, list[Segment]],
                                             max_line: int) -> None:
    for name, segments in recordings.items():
        srt = render(segments, "srt", max_line=max_line)
        report = check_srt(srt, max_line=max_line)
        assert report.hard == (), name
        assert report.soft == (), f"{name}: reading rate broken where speech allowed"
        parsed = webvtt.from_buffer(io.StringIO(srt), format="srt").captions
        cues = build_cues(segments, max_line=max_line, speaker_labels=True)
        assert len(parsed) == len(cues) > 0
        text = ""
        for caption, cue in zip(parsed, cues, strict=True):
            label = speaker_label(cue.speaker, max_line)
            assert caption.lines[0].startswith(label)
            text += caption.raw_text.removeprefix(label)
        assert squeezed(text) == squeezed("".join(w.text for w in words(segments)))


@pytest.mark.parametrize("max_line", MAX_LINES)
def test_lines_never_end_on_an_article_or_preposition(recordings: dict[str, list[Segment]],
                                                      max_line: int) -> None:
    for segments in recordings.values():
        cues = build_cues(segments, max_line=max_line)
        for _, turn in groupby(cues, key=lambda c: c.speaker):
            lines = [line for cue in turn for line in cue.lines]
            # A turn's last line ends where the reader stopped, which no layout can change.
            ends = [line.split()[-1].lower() for line in lines[:-1]]
            assert [e for e in ends if e in BOUND] == []


def test_each_reader_change_starts_a_cue_with_their_voice(
    recordings: dict[str, list[Segment]],
) -> None:
    vtt = render(recordings[MULTI.name], "vtt")
    readers = [speaker for _, _, speaker in turns()]
    voices = [c.voice for c in webvtt.from_string(vtt, strict=True).captions]
    assert [v for v, _ in groupby(voices)] == readers


def test_text_is_one_paragraph_a_turn_and_json_keeps_every_word(
    recordings: dict[str, list[Segment]],
) -> None:
    segments = recordings[MULTI.name]
    text = render(segments, "txt")
    paragraphs = text.rstrip("\n").split("\n\n")
    names = [re.match(r"\[\d\d:\d\d:\d\d\] (LibriSpeech spk \d+): ", p) for p in paragraphs]
    assert all(names), text
    readers = [speaker for _, _, speaker in turns()]
    assert [n for n, _ in groupby(m.group(1) for m in names if m)] == readers
    data = json.loads(render(segments, "json"))
    assert [s["text"] for s in data["segments"]] == [s.text for s in segments]
    assert [w["text"] for s in data["segments"] for w in s["words"]] == \
        [w.text for w in words(segments)]
    assert all(s["speaker"] in readers for s in data["segments"])
