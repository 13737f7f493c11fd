"""Cue building against each caption guideline, with hand-built speech and random word timings."""

from __future__ import annotations

from itertools import groupby

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roomscribe.asr.results import Segment, Word
from roomscribe.captions.cues import Cue, build_cues, speaker_label
from roomscribe.errors import InvalidInput

BOUND = {"the", "a", "an", "of", "to", "my", "your", "our", "their", "in", "on", "at", "for",
         "with", "from", "by", "into", "about"}
"""Articles, determiners and prepositions no line may end with."""

LONG_TALK = (
    "We walked along the river for an hour and talked about the plans for the new bridge over "
    "the water, which the council had approved at the end of the summer. Nobody in the town "
    "expected the work to start so soon, and most of the people we met on the way were "
    "surprised by the size of the machines parked near the old mill at the edge of the park."
)


def said(text: str, start: float = 0.0, *, per_char: float = 0.06, gap: float = 0.0,
         speaker: str | None = None) -> Segment:
    """A segment whose words last `per_char` seconds a character, `gap` seconds apart."""
    words = []
    t = start
    for token in text.split():
        words.append(Word(round(t, 3), round(t + per_char * len(token), 3), token))
        t += per_char * len(token) + gap + per_char
    return Segment(start, words[-1].end, text, tuple(words), speaker)


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def first_fit(text: str, width: int) -> list[str]:
    """The lines a naive filler makes: as many words as fit, then the next line."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def assert_hard_rules(cues: list[Cue], max_line: int, *, labels: bool = False) -> None:
    previous: Cue | None = None
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2
        assert all(line and line == line.strip() for line in cue.lines)
        label = len(speaker_label(cue.speaker, max_line)) if labels else 0
        assert label + len(cue.lines[0]) <= max_line
        assert all(len(line) <= max_line for line in cue.lines)
        assert (cue.start, cue.end) == (ms(cue.start) / 1000, ms(cue.end) / 1000)
        assert 1000 <= ms(cue.end) - ms(cue.start) <= 7000
        if previous is not None:
            assert ms(cue.start) >= ms(previous.end)
        previous = cue


@pytest.mark.parametrize("max_line", [32, 37, 42])
def test_cues_hold_two_lines_of_at_most_max_line(max_line: int) -> None:
    cues = build_cues([said(LONG_TALK)], max_line=max_line)
    assert_hard_rules(cues, max_line)
    assert " ".join(c.text for c in cues) == LONG_TALK
    assert any(len(c.lines) == 2 for c in cues)


@pytest.mark.parametrize("max_line", [32, 37, 42])
def test_no_line_ends_with_an_article_or_preposition(max_line: int) -> None:
    naive = first_fit(LONG_TALK, max_line)
    assert any(line.split()[-1] in BOUND for line in naive[:-1]), "the text must tempt a filler"
    cues = build_cues([said(LONG_TALK)], max_line=max_line)
    lines = [line for cue in cues for line in cue.lines]
    assert [line for line in lines[:-1] if line.split()[-1].lower() in BOUND] == []


def test_lines_break_after_punctuation() -> None:
    text = "When the rain finally stopped, we went outside to look at the sky."
    assert not first_fit(text, 42)[0].endswith(",")
    (cue,) = build_cues([said(text)])
    assert cue.lines == ("When the rain finally stopped,", "we went outside to look at the sky.")


def test_cues_end_at_sentence_ends() -> None:
    text = ("The meeting starts at nine tomorrow morning. Please bring the reports from last "
            "week and the new budget figures.")
    cues = build_cues([said(text)])
    assert cues[0].text == "The meeting starts at nine tomorrow morning."
    assert " ".join(c.text for c in cues) == text


def test_cues_break_at_a_long_pause() -> None:
    cues = build_cues([said("Right, let us begin", 0.0), said("with the first item", 4.0)])
    assert [c.text for c in cues] == ["Right, let us begin", "with the first item"]


def test_a_speaker_change_always_starts_a_new_cue() -> None:
    segments = [said("Is it ready?", 0.0, speaker="Ann"), said("Yes.", 0.8, speaker="Bob"),
                said("Good, then", 1.3, speaker="Ann")]
    cues = build_cues(segments)
    assert [(c.speaker, c.text) for c in cues] == [
        ("Ann", "Is it ready?"), ("Bob", "Yes."), ("Ann", "Good, then")]
    assert_hard_rules(cues, 42)


def test_a_short_cue_stays_a_second() -> None:
    (cue,) = build_cues([Segment(2.0, 2.2, "Hi.", (Word(2.0, 2.2, "Hi."),))])
    assert (cue.start, cue.end) == (2.0, 3.0)


def test_fast_speech_stays_until_readable_when_silence_follows() -> None:
    text = "Quick brown foxes jump over lazy dogs."
    fast = said(text, 10.0, per_char=0.025)
    (cue,) = build_cues([fast])
    assert cue.end - cue.start == pytest.approx(len(text) / 20)
    assert fast.end - fast.start < len(text) / 20


def test_reading_time_never_pushes_into_the_next_cue() -> None:
    text = "Quick brown foxes jump over lazy dogs."
    cues = build_cues([said(text, 10.0, per_char=0.025, speaker="Ann"),
                       said("Then they rest.", 11.4, speaker="Bob")])
    assert cues[0].end == cues[1].start == 11.4


def test_slow_speech_is_cut_into_cues_of_at_most_seven_seconds() -> None:
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    cues = build_cues([said(text, per_char=0.05, gap=0.9)])
    assert len(cues) > 1
    assert_hard_rules(cues, 42)
    assert " ".join(c.text for c in cues) == text


def test_rapid_speaker_changes_keep_a_second_each_and_never_overlap() -> None:
    segments = [Segment(i * 0.2, i * 0.2 + 0.15, "Yes.", (Word(i * 0.2, i * 0.2 + 0.15, "Yes."),),
                        "Ann" if i % 2 else "Bob") for i in range(10)]
    cues = build_cues(segments)
    assert len(cues) == 10
    assert_hard_rules(cues, 42)


def test_sub_millisecond_times_round_without_empty_or_overlapping_cues() -> None:
    words = (Word(0.0004, 0.0006, "a."), Word(0.0006, 0.0009, "b."))
    cues = build_cues([Segment(0.0004, 0.0009, "a. b.", words, "Ann"),
                       Segment(0.0009, 0.0011, "c.", (Word(0.0009, 0.0011, "c."),), "Bob")])
    assert_hard_rules(cues, 42)
    assert cues[0].start == 0.0


def test_words_are_ordered_even_when_whisper_overlaps_them() -> None:
    words = (Word(1.0, 1.6, "first"), Word(1.4, 1.5, "second"), Word(1.2, 2.0, "third."))
    (cue,) = build_cues([Segment(1.0, 2.0, "first second third.", words)])
    assert cue.text == "first second third."
    assert cue.start == 1.0


def test_segments_without_word_timestamps_still_make_cues() -> None:
    cues = build_cues([Segment(0.0, 12.0, LONG_TALK[:160], ())])
    assert_hard_rules(cues, 42)
    assert " ".join(c.text for c in cues) == LONG_TALK[:160]
    assert cues[0].start == 0.0


def test_a_word_wider_than_a_line_is_cut_to_fit() -> None:
    url = "https://example.org/" + "x" * 70
    cues = build_cues([said(f"see {url} now")], max_line=32)
    assert_hard_rules(cues, 32)
    assert "".join(c.text.replace(" ", "") for c in cues) == f"see{url}now"


def test_speaker_labels_take_room_on_the_first_line() -> None:
    plain = build_cues([said(LONG_TALK, speaker="Ann")], max_line=32)
    labelled = build_cues([said(LONG_TALK, speaker="Ann")], max_line=32, speaker_labels=True)
    assert_hard_rules(labelled, 32, labels=True)
    assert any(len(c.lines[0]) > 32 - len("Ann: ") for c in plain)


def test_a_long_speaker_name_is_shortened_in_its_label() -> None:
    label = speaker_label("Professor Maximilian Featherstonehaugh-Smythe", 32)
    assert label.endswith("…: ")
    assert len(label) <= 32 - 12
    assert speaker_label("Ann", 32) == "Ann: "
    assert speaker_label(None, 32) == speaker_label("  ", 32) == ""


def test_nothing_said_makes_no_cues() -> None:
    assert build_cues([]) == []
    assert build_cues([Segment(0.0, 1.0, "  ", ())]) == []


def test_lines_narrower_than_any_guideline_are_refused() -> None:
    with pytest.raises(InvalidInput):
        build_cues([said("hello")], max_line=10)


WORDS = ["the", "a", "of", "to", "my", "and", "river", "bridge,", "council.", "Really?", "I",
         "extraordinarily", "x", "well-known", "AT&T", "<b>", "…"]


@st.composite
def transcripts(draw: st.DrawFn) -> list[Segment]:
    """Random talk: any words, gaps from none to long, overlapping times, speaker changes."""
    segments = []
    t = draw(st.floats(0, 5))
    for _ in range(draw(st.integers(0, 6))):
        speaker = draw(st.sampled_from([None, "Ann", "Bob", "A very long speaker name indeed"]))
        words = []
        for _ in range(draw(st.integers(0, 25))):
            text = draw(st.sampled_from(WORDS) | st.text("abcxyz,.", min_size=1, max_size=60))
            t = max(0.0, t + draw(st.floats(-0.3, 3.0)))
            words.append(Word(t, t + draw(st.floats(0, 1.5)), text))
        text = " ".join(w.text for w in words) or draw(st.sampled_from(["", "spoken text"]))
        keep_words = draw(st.booleans())
        segments.append(Segment(t, t + 1, text, tuple(words) if keep_words else (), speaker))
    return segments


def spoken(segments: list[Segment]) -> list[tuple[str | None, str]]:
    """Each speaker turn's characters (spaces dropped, as long words may be cut into pieces)."""
    pieces = [(s.speaker, "".join(w.text for w in s.words) if s.words else s.text)
              for s in segments]
    pieces = [(speaker, text.replace(" ", "")) for speaker, text in pieces if text.strip()]
    return [(speaker, "".join(text for _, text in run))
            for speaker, run in groupby(pieces, key=lambda p: p[0])]


@settings(deadline=None, max_examples=150)
@given(segments=transcripts(), max_line=st.sampled_from([32, 37, 42]), labels=st.booleans())
def test_any_talk_makes_cues_that_keep_every_hard_rule(
    segments: list[Segment], max_line: int, labels: bool,
) -> None:
    cues = build_cues(segments, max_line=max_line, speaker_labels=labels)
    assert_hard_rules(cues, max_line, labels=labels)
    turns = [(speaker, "".join(c.text.replace(" ", "") for c in run))
             for speaker, run in groupby(cues, key=lambda c: c.speaker)]
    assert turns == spoken(segments)
    for index, cue in enumerate(cues):
        nxt = cues[index + 1] if index + 1 < len(cues) else None
        chars = sum(map(len, cue.lines)) + (len(speaker_label(cue.speaker, max_line))
                                            if labels else 0)
        duration = ms(cue.end) - ms(cue.start)
        readable = chars * 1000 <= 20 * duration
        assert readable or duration == 7000 or (nxt is not None and nxt.start == cue.end)
