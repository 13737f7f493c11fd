"""The validator catches each broken rule in hand-written WebVTT and SRT, and passes good files."""

from __future__ import annotations

import pytest

from roomscribe.captions.validator import check_srt, check_vtt, validate_srt, validate_vtt

GOOD_VTT = """WEBVTT

1
00:00:01.000 --> 00:00:03.500
<v Ann Lee>AT&amp;T &lt;b&gt; is here,
and so is R&amp;D.

NOTE a comment is not a cue

2
00:00:04.000 --> 00:00:06.000 line:0
Nobody knows who said this.
"""

GOOD_SRT = """1
00:00:01,000 --> 00:00:03,500
Ann Lee: AT&T <b> is here,
and so is R&D.

2
00:00:04,000 --> 00:00:06,000
Nobody knows who said this.
"""


def vtt(*cues: str, header: str = "WEBVTT") -> str:
    return header + "\n\n" + "\n\n".join(cues) + "\n"


def srt(*cues: str) -> str:
    return "\n\n".join(cues) + "\n"


def rules(problems: list[str] | tuple[str, ...]) -> list[str]:
    """The rule named in each problem (`cue ID: RULE: detail` or `RULE: detail`)."""
    return [p.split(": ")[1] if p.startswith("cue ") else p.split(": ")[0] for p in problems]


def test_good_files_have_no_problems() -> None:
    assert check_vtt(GOOD_VTT).hard == check_vtt(GOOD_VTT).soft == ()
    assert validate_vtt(GOOD_VTT) == []
    assert check_srt(GOOD_SRT).hard == check_srt(GOOD_SRT).soft == ()
    assert validate_srt(GOOD_SRT) == []
    assert validate_vtt(GOOD_VTT.replace("\n", "\r\n")) == []
    assert validate_vtt("\ufeffWEBVTT - a title\n") == []
    assert validate_srt("") == []


@pytest.mark.parametrize("text,rule", [
    ("WEBVT\n\n00:00:01.000 --> 00:00:02.000\nhi\n", "header"),
    ("\n\nWEBVTT\n", "header"),
    ("WEBVTT\n00:00:01.000 --> 00:00:02.000\nhi\n", "syntax"),
    (vtt("1\n00:00:01.000 --> 00:00:02.500\nhi", "just some words"), "syntax"),
    (vtt("1\n00:00:01.000 --> 00:00:02.500"), "syntax"),
    (vtt("1\n00:00:01,000 --> 00:00:02,500\nhi"), "timestamp"),
    (vtt("1\n00:00:1.000 --> 00:00:02.500\nhi"), "timestamp"),
    (vtt("1\n00:00:01.000 --> 00:00:62.500\nhi"), "timestamp"),
    (vtt("1\n00:00:01.000 -> 00:00:02.500\nhi"), "syntax"),
    (vtt("1\n00:00:03.000 --> 00:00:02.000\nhi"), "timestamp"),
    (vtt("1\n00:00:03.000 --> 00:00:03.000\nhi"), "timestamp"),
    (vtt("1\n00:00:05.000 --> 00:00:06.500\nhi", "2\n00:00:02.000 --> 00:00:03.500\nho"), "order"),
    (vtt("1\n00:00:01.000 --> 00:00:03.000\nhi", "2\n00:00:02.000 --> 00:00:04.000\nho"),
     "overlap"),
    (vtt("1\n00:00:01.000 --> 00:00:09.000\nhi", "2\n00:00:02.000 --> 00:00:04.000\nho",
         "3\n00:00:05.000 --> 00:00:07.000\nhey"), "overlap"),
    (vtt("a\n00:00:01.000 --> 00:00:02.500\nhi", "a\n00:00:03.000 --> 00:00:04.500\nho"),
     "duplicate-id"),
    (vtt("1\n00:00:01.000 --> 00:00:02.500\nAT&T"), "escaping"),
    (vtt("1\n00:00:01.000 --> 00:00:02.500\nfish & chips"), "escaping"),
    (vtt("1\n00:00:01.000 --> 00:00:02.500\n&amp no semicolon"), "escaping"),
    (vtt("1\n00:00:01.000 --> 00:00:02.500\n<b>bold</b>"), "escaping"),
    (vtt("1\n00:00:01.000 --> 00:00:02.500\n<v Ann>1 < 2"), "escaping"),
    (vtt("1\n00:00:01.000 --> 00:00:02.500\none\ntwo\nthree"), "lines"),
    (vtt("1\n00:00:01.000 --> 00:00:04.500\n" + "x" * 43), "line-length"),
    (vtt("1\n00:00:01.000 --> 00:00:08.001\nhi"), "duration"),
    (vtt("1\n00:00:01.000 --> 00:00:01.999\nhi", "2\n00:00:02.000 --> 00:00:03.000\nho"),
     "duration"),
])
def test_each_broken_vtt_rule_is_reported(text: str, rule: str) -> None:
    assert rule in rules(validate_vtt(text))


@pytest.mark.parametrize("text,rule", [
    (srt("1\n00:00:01.000 --> 00:00:02.500\nhi"), "timestamp"),
    (srt("1\n0:00:01,000 --> 00:00:02,500\nhi"), "timestamp"),
    (srt("1\n00:00:03,000 --> 00:00:02,000\nhi"), "timestamp"),
    (srt("00:00:01,000 --> 00:00:02,500\nhi"), "syntax"),
    (srt("1\n00:00:01,000 --> 00:00:02,500"), "syntax"),
    (srt("1\n00:00:01,000 --> 00:00:02,500\nhi", "one\n00:00:03,000 --> 00:00:04,500\nho"),
     "syntax"),
    (srt("1\n00:00:05,000 --> 00:00:06,500\nhi", "2\n00:00:02,000 --> 00:00:03,500\nho"), "order"),
    (srt("1\n00:00:01,000 --> 00:00:03,000\nhi", "2\n00:00:02,000 --> 00:00:04,000\nho"),
     "overlap"),
    (srt("1\n00:00:01,000 --> 00:00:02,500\nhi", "1\n00:00:03,000 --> 00:00:04,500\nho"),
     "duplicate-id"),
    (srt("1\n00:00:01,000 --> 00:00:02,500\none\ntwo\nthree"), "lines"),
    (srt("1\n00:00:01,000 --> 00:00:04,500\nAnn Lee: " + "x" * 34), "line-length"),
    (srt("1\n00:00:01,000 --> 00:00:08,001\nhi"), "duration"),
    (srt("1\n00:00:01,000 --> 00:00:01,500\nhi", "2\n00:00:02,000 --> 00:00:03,000\nho"),
     "duration"),
])
def test_each_broken_srt_rule_is_reported(text: str, rule: str) -> None:
    assert rule in rules(validate_srt(text))


def test_a_problem_names_its_cue() -> None:
    (problem,) = validate_vtt(vtt("intro\n00:00:03.000 --> 00:00:02.000\nhi"))
    assert problem.startswith("cue intro: timestamp: ")
    (problem,) = validate_vtt(vtt("00:00:01.000 --> 00:00:02.500\nfish & chips"))
    assert problem.startswith("cue #1: escaping: ")


def test_line_length_counts_what_a_viewer_sees() -> None:
    line = "<v A very long speaker name>" + "&amp;" * 42
    assert validate_vtt(vtt("1\n00:00:01.000 --> 00:00:03.500\n" + line)) == []
    assert "line-length" in rules(
        validate_vtt(vtt("1\n00:00:01.000 --> 00:00:03.500\n" + line + "x")))
    narrow = vtt("1\n00:00:01.000 --> 00:00:03.500\n" + "x" * 33)
    assert validate_vtt(narrow) == []
    assert rules(validate_vtt(narrow, max_line=32)) == ["line-length"]


def test_a_short_cue_is_fine_only_when_the_whole_file_is_short() -> None:
    assert validate_vtt(vtt("1\n00:00:00.000 --> 00:00:00.400\nHi.")) == []
    assert validate_vtt(vtt("1\n00:00:00.000 --> 00:00:00.400\nHi.",
                            "2\n00:00:00.400 --> 00:00:00.900\nHo.")) == []
    assert rules(validate_vtt(vtt("1\n00:00:00.000 --> 00:00:00.400\nHi.",
                                  "2\n00:00:00.400 --> 00:00:01.000\nHo."))) == ["duration"] * 2


FAST = "Quick brown foxes jump over lazy dogs."  # 38 characters: 1.9 s to read at 20 a second


def test_reading_rate_is_soft_and_only_where_the_cue_could_have_stayed() -> None:
    with_room = vtt(f"1\n00:00:01.000 --> 00:00:02.000\n{FAST}",
                    "2\n00:00:04.000 --> 00:00:05.000\nThen.")
    report = check_vtt(with_room)
    assert report.hard == ()
    assert rules(report.soft) == ["reading-rate"]
    assert report.soft[0].startswith("cue 1: ")

    no_room = vtt(f"1\n00:00:01.000 --> 00:00:02.000\n{FAST}",
                  "2\n00:00:02.000 --> 00:00:03.000\nThen.")
    assert check_vtt(no_room).soft == ()

    last = vtt(f"1\n00:00:01.000 --> 00:00:02.000\n{FAST}")
    assert rules(check_vtt(last).soft) == ["reading-rate"]
    assert check_vtt(vtt(f"1\n00:00:01.000 --> 00:00:02.900\n{FAST}")).soft == ()

    srt_report = check_srt(srt(f"1\n00:00:01,000 --> 00:00:02,000\n{FAST}"))
    assert srt_report.hard == ()
    assert rules(srt_report.soft) == ["reading-rate"]


def test_reading_rate_counts_the_srt_label_but_not_the_voice_tag() -> None:
    text = "x" * 30  # 1.5 s at 20 a second; with "Ann Lee: " 1.95 s
    assert check_vtt(vtt(f"1\n00:00:01.000 --> 00:00:02.600\n<v Ann Lee>{text}")).soft == ()
    assert check_srt(srt(f"1\n00:00:01,000 --> 00:00:02,600\nAnn Lee: {text}")).soft != ()
