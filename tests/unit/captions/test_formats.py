"""Each file format as its readers see it: webvtt-py, html entity decoding, json, the validator."""

from __future__ import annotations

import html
import io
import json
import re

import pytest
import webvtt
from hypothesis import given, settings
from hypothesis import strategies as st

from roomscribe.asr.results import Segment, Word
from roomscribe.captions import formats
from roomscribe.captions.cues import Cue, build_cues, speaker_label
from roomscribe.captions.formats import render
from roomscribe.captions.validator import CaptionRulesBroken, check_srt, check_vtt
from roomscribe.errors import InvalidInput


def said(text: str, start: float, speaker: str | None = None, per_word: float = 0.3) -> Segment:
    words = tuple(Word(round(start + i * per_word, 3), round(start + (i + 1) * per_word, 3), w,
                       0.9) for i, w in enumerate(text.split()))
    return Segment(start, words[-1].end, text, words, speaker)


DIALOGUE = [
    said("Good morning, everyone, and welcome to the weekly planning call.", 0.0, "Ann Lee"),
    said("Thanks. Can you all hear me?", 4.0, "Bob"),
    said("Yes, loud and clear.", 6.5, "Ann Lee"),
    said("Let us start with the budget.", 9.0),
]


def test_vtt_has_a_header_unique_ids_and_voice_spans() -> None:
    text = render(DIALOGUE, "vtt")
    assert text.startswith("WEBVTT\n\n")
    parsed = webvtt.from_string(text, strict=True).captions
    ids = [c.identifier for c in parsed]
    assert len(ids) == len(set(ids)) == len(parsed) >= 4
    assert [c.voice for c in parsed][:3] == ["Ann Lee", "Bob", "Ann Lee"]
    assert parsed[-1].voice is None
    assert "<v" not in parsed[-1].raw_text
    assert check_vtt(text) == check_vtt(text, max_line=42)
    assert check_vtt(text).hard == check_vtt(text).soft == ()


def test_srt_has_comma_timestamps_and_name_prefixes() -> None:
    text = render(DIALOGUE, "srt")
    blocks = text.strip().split("\n\n")
    assert [b.split("\n")[0] for b in blocks] == [str(n) for n in range(1, len(blocks) + 1)]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", b.split("\n")[1])
               for b in blocks)
    first_lines = [b.split("\n")[2] for b in blocks]
    assert first_lines[0].startswith("Ann Lee: Good morning,")
    assert first_lines[1].startswith("Bob: Thanks.")
    assert first_lines[-1] == "Let us start with the budget."
    assert "<v" not in text
    assert check_srt(text).hard == check_srt(text).soft == ()


def test_vtt_escapes_entities_and_srt_does_not() -> None:
    segments = [said("AT&T <b> said -->", 1.0, "R&D <team>")]
    vtt = render(segments, "vtt")
    assert "<v R&amp;D &lt;team&gt;>AT&amp;T &lt;b&gt; said --&gt;" in vtt
    (caption,) = webvtt.from_string(vtt, strict=True).captions
    assert html.unescape(caption.text) == "AT&T <b> said -->"
    assert caption.voice is not None and html.unescape(caption.voice) == "R&D <team>"
    srt = render(segments, "srt")
    assert "R&D <team>: AT&T <b> said →" in srt
    assert "&amp;" not in srt and "&lt;" not in srt


def test_a_speaker_name_with_an_arrow_still_makes_a_valid_srt() -> None:
    # A display name is typed by its owner: "-->" in it would read as the timings of a new cue.
    srt = render([said("Hello there.", 1.0, "Eve --> 00:00")], "srt")
    assert check_srt(srt).hard == ()
    assert "Eve → 00:00: Hello there." in srt


def test_timestamps_are_whole_milliseconds_in_order() -> None:
    # Bob's word rounds to zero length, at the very millisecond Ann's last word ends.
    segments = [said("one two three.", 0.0004, "Ann", per_word=0.3333),
                said("four.", 1.0001, "Bob", per_word=0.0003)]
    vtt = render(segments, "vtt")
    times = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})", vtt)
    assert times == [("00:00:00.000", "00:00:01.000"), ("00:00:01.000", "00:00:02.000")]


def test_text_is_paragraphs_of_turns_with_time_and_name() -> None:
    segments = [
        Segment(0.4, 2.0, " Hello there.", (), "Ann"),
        Segment(2.5, 4.0, "How are you?", (), "Ann"),
        Segment(4.2, 5.0, "Fine.", (), "Bob"),
        Segment(9.0, 10.0, "After a long pause.", (), "Bob"),
        Segment(3725.9, 3727.0, "Nobody knows who said this.", (), None),
    ]
    assert formats.to_text(segments) == render(segments, "txt") == (
        "[00:00:00] Ann: Hello there. How are you?\n\n"
        "[00:00:04] Bob: Fine.\n\n"
        "[00:00:09] Bob: After a long pause.\n\n"
        "[01:02:05] Nobody knows who said this.\n"
    )


def test_a_long_monologue_is_split_into_paragraphs_of_about_a_minute() -> None:
    segments = [Segment(t, t + 9.5, f"Sentence at {t:g}.", (), "Ann") for t in range(0, 130, 10)]
    paragraphs = formats.to_text(segments).rstrip("\n").split("\n\n")
    assert [p[:16] for p in paragraphs] == [
        "[00:00:00] Ann: ", "[00:01:00] Ann: ", "[00:02:00] Ann: "]
    assert " ".join(p[16:] for p in paragraphs) == " ".join(s.text for s in segments)


def test_json_holds_every_segment_and_word() -> None:
    data = json.loads(render(DIALOGUE, "json"))
    assert list(data) == ["segments"]
    assert len(data["segments"]) == len(DIALOGUE)
    for seg, out in zip(DIALOGUE, data["segments"], strict=True):
        assert out == {
            "start": seg.start, "end": seg.end, "text": seg.text, "speaker": seg.speaker,
            "words": [{"start": w.start, "end": w.end, "text": w.text,
                       "probability": w.probability} for w in seg.words],
        }


def test_nothing_said_renders_empty_but_valid_files() -> None:
    assert render([], "vtt") == "WEBVTT\n"
    assert check_vtt(render([], "vtt")).hard == ()
    assert render([], "srt") == render([], "txt") == ""
    assert json.loads(render([], "json")) == {"segments": []}


def test_unknown_format_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown caption format 'ass'"):
        render(DIALOGUE, "ass")


@pytest.mark.parametrize("fmt", ["vtt", "srt"])
def test_render_refuses_to_return_a_file_that_breaks_a_rule(
    fmt: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    overlapping = [Cue(0.0, 2.0, ("first",)), Cue(1.5, 3.0, ("second",))]
    monkeypatch.setattr(formats, "build_cues", lambda *a, **k: overlapping)
    with pytest.raises(CaptionRulesBroken, match="overlap"):
        render(DIALOGUE, fmt)


NASTY = st.text(st.sampled_from("abcXYZ&<>;#-/é字 .,?\t\n") | st.characters(codec="utf-8"),
                min_size=1, max_size=50)


@st.composite
def transcripts(draw: st.DrawFn) -> list[Segment]:
    """Random words of any characters, spoken by anyone, at any pace."""
    segments = []
    t = 0.0
    for _ in range(draw(st.integers(1, 5))):
        speaker = draw(st.none() | NASTY)
        words = []
        for _ in range(draw(st.integers(1, 20))):
            t += draw(st.floats(0, 2))
            words.append(Word(t, t + draw(st.floats(0, 1)), draw(NASTY)))
        segments.append(Segment(words[0].start, t, " ".join(w.text for w in words),
                                tuple(words), speaker))
    return segments


def squeezed(text: str) -> str:
    return "".join(text.split())


@settings(deadline=None, max_examples=150)
@given(segments=transcripts(), max_line=st.sampled_from([32, 37, 42]))
def test_any_transcript_renders_valid_files_that_round_trip(
    segments: list[Segment], max_line: int,
) -> None:
    spoken = squeezed(" ".join(w.text for s in segments for w in s.words))

    vtt = render(segments, "vtt", max_line=max_line)
    assert check_vtt(vtt, max_line=max_line).hard == ()
    assert check_vtt(vtt, max_line=max_line).soft == ()
    parsed = webvtt.from_string(vtt, strict=True).captions
    assert len(parsed) == vtt.count(" --> ")
    ids = [c.identifier for c in parsed]
    assert len(set(ids)) == len(ids)
    assert squeezed("".join(html.unescape(c.text) for c in parsed)) == spoken
    for caption in parsed:
        assert all(len(html.unescape(line)) <= max_line for line in caption.text.split("\n"))

    srt = render(segments, "srt", max_line=max_line)
    assert check_srt(srt, max_line=max_line).hard == ()
    assert check_srt(srt, max_line=max_line).soft == ()
    cues = build_cues(segments, max_line=max_line, speaker_labels=True)
    if not cues:  # only blanks were said: an empty file (which webvtt-py refuses to read)
        assert srt.strip() == "" and spoken == ""
        return
    read_back = webvtt.from_buffer(io.StringIO(srt), format="srt").captions
    assert len(read_back) == len(cues)
    text = ""
    for caption, cue in zip(read_back, cues, strict=True):
        label = speaker_label(cue.speaker, max_line)
        assert caption.lines[0].startswith(label)
        text += caption.raw_text.removeprefix(label)
    # SRT has no escapes, so the writer turns "-->" (a timing line to readers) into an arrow.
    assert squeezed(text).replace("→", "-->") == spoken.replace("→", "-->")
