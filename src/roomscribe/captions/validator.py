"""Checks a WebVTT or SRT file against the caption rules before anyone has to read it.

webvtt-py writes whatever it is given: it does not check that a cue ends after it starts, that
cues are in order, or that text is escaped. Players then drop or garble such cues without a word,
so every file Roomscribe writes goes through here first, and tests hold any file to the same rules.

Problems are one-line strings, `cue ID: RULE: detail` (or `RULE: detail` for the whole file), where
RULE is one of:

    header         the file does not start with `WEBVTT`
    syntax         a block that is not a cue, or a cue without text
    timestamp      malformed timings, or an end that is not after the start
    order          a cue starts before the one above it
    overlap        a cue starts before an earlier one has ended
    duplicate-id   two cues share an identifier
    escaping       `&` or `<` in VTT text that is not an entity or a voice tag
    lines          more than two lines
    line-length    a line longer than `max_line` visible characters
    duration       on screen under 1 s (unless the whole file is) or over 7 s
    reading-rate   over 20 characters a second although the cue could have stayed longer

Reading rate is a soft rule: speech can be faster than anyone reads, and then only the silence
after it can help. `Report.soft` lists it only where there was such silence (the cue ended before
the next one began and had not reached 7 s), so a writer can be held to it strictly.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from roomscribe.captions.cues import MAX_CPS, MAX_CUE_MS, MAX_LINES, MIN_CUE_MS
from roomscribe.errors import RoomscribeError

_VTT_TIME = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_VTT_TIMINGS = re.compile(rf"^{_VTT_TIME}[ \t]+-->[ \t]+{_VTT_TIME}(?:[ \t]+.*)?$")
_SRT_TIME = r"(\d{2,}):([0-5]\d):([0-5]\d),(\d{3})"
_SRT_TIMINGS = re.compile(rf"^{_SRT_TIME} --> {_SRT_TIME}$")
_VOICE_TAG = re.compile(r"<v(?:\.[^\s.>]+)*[ \t]+([^>]+)>|</v>")
_ENTITY = re.compile(r"&(?:amp|lt|gt|nbsp|lrm|rlm|#\d+|#[xX][0-9a-fA-F]+);")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class CaptionRulesBroken(RoomscribeError):
    """A caption file Roomscribe was about to write breaks a hard rule: a bug, never shipped."""


@dataclass(frozen=True, slots=True)
class ParsedCue:
    """A cue as read back from a file, times in ms."""

    identifier: str | None
    start: int
    end: int
    lines: tuple[str, ...]
    """The payload as written, tags and entities included."""
    visible: tuple[str, ...]
    """What a viewer sees on each line: voice tags removed, entities decoded."""
    voice: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """Hard problems make a file wrong; soft ones make it harder to read than it had to be."""

    hard: tuple[str, ...]
    soft: tuple[str, ...]


def validate_vtt(text: str, *, max_line: int = 42) -> list[str]:
    """Hard problems of a WebVTT file; empty means valid."""
    return list(check_vtt(text, max_line=max_line).hard)


def validate_srt(text: str, *, max_line: int = 42) -> list[str]:
    """Hard problems of an SRT file; empty means valid."""
    return list(check_srt(text, max_line=max_line).hard)


def check_vtt(text: str, *, max_line: int = 42) -> Report:
    """Hard and soft problems of a WebVTT file."""
    cues, problems = parse_vtt(text)
    hard, soft = _check_cues(cues, max_line)
    return Report(tuple(problems + hard), tuple(soft))


def check_srt(text: str, *, max_line: int = 42) -> Report:
    """Hard and soft problems of an SRT file (its text is counted as shown, labels included)."""
    cues, problems = parse_srt(text)
    hard, soft = _check_cues(cues, max_line)
    return Report(tuple(problems + hard), tuple(soft))


def _blocks(lines: Sequence[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _ms(match: re.Match[str], first: int) -> int:
    hours, minutes, seconds, millis = (match.group(first + n) for n in range(4))
    return ((int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


def parse_vtt(text: str) -> tuple[list[ParsedCue], list[str]]:
    """The cues of a WebVTT file and the problems found reading it."""
    lines = _LINE_BREAK.split(text.removeprefix("\ufeff"))
    problems: list[str] = []
    if not re.fullmatch(r"WEBVTT(?:[ \t].*)?", lines[0]):
        problems.append(f"header: the first line is {lines[0][:40]!r}, not 'WEBVTT'")
    blank = next((n for n, line in enumerate(lines) if not line.strip()), len(lines))
    if any("-->" in line for line in lines[1:blank]):
        problems.append("syntax: cue timings inside the header (a blank line is missing)")
    cues: list[ParsedCue] = []
    for block in _blocks(lines[blank:]):
        if re.match(r"NOTE(?:[ \t]|$)", block[0]):
            continue
        if block[0] in ("STYLE", "REGION") and not cues:
            continue
        identifier: str | None
        if "-->" in block[0]:
            identifier, timings, payload = None, block[0], block[1:]
        elif len(block) > 1 and "-->" in block[1]:
            identifier, timings, payload = block[0], block[1], block[2:]
        else:
            problems.append(f"syntax: {block[0][:40]!r} starts neither a cue nor a comment")
            continue
        where = f"cue {identifier or f'#{len(cues) + 1}'}"
        match = _VTT_TIMINGS.match(timings)
        if match is None:
            problems.append(f"{where}: timestamp: malformed timings {timings!r}")
            continue
        visible: list[str] = []
        voice: str | None = None
        for line in payload:
            shown, name, bad = _vtt_text(line)
            visible.append(shown)
            voice = voice or name
            problems.extend(f"{where}: {problem}" for problem in bad)
        cues.append(ParsedCue(identifier, _ms(match, 1), _ms(match, 5), tuple(payload),
                              tuple(visible), voice))
    return cues, problems


def _vtt_text(line: str) -> tuple[str, str | None, list[str]]:
    """A payload line's visible text, its voice name and its escaping problems."""
    problems: list[str] = []
    if "-->" in line:
        problems.append(f"syntax: '-->' in cue text {line[:40]!r}")
    voice: str | None = None
    shown: list[str] = []
    pos = 0
    for tag in _VOICE_TAG.finditer(line):
        shown.append(line[pos:tag.start()])
        if tag.group(1) is not None and voice is None:
            voice = html.unescape(tag.group(1).strip())
        pos = tag.end()
    shown.append(line[pos:])
    text = "".join(shown)
    if "<" in text:
        problems.append(f"escaping: unescaped '<' in {line[:40]!r}")
    if "&" in _ENTITY.sub("", text):
        problems.append(f"escaping: unescaped '&' in {line[:40]!r}")
    return html.unescape(text), voice, problems


def parse_srt(text: str) -> tuple[list[ParsedCue], list[str]]:
    """The cues of an SRT file and the problems found reading it."""
    lines = _LINE_BREAK.split(text.removeprefix("\ufeff"))
    problems: list[str] = []
    cues: list[ParsedCue] = []
    for block in _blocks(lines):
        if not block[0].strip().isdigit() or len(block) < 2:
            problems.append(f"syntax: {block[0][:40]!r} does not start a cue (index line)")
            continue
        identifier = block[0].strip()
        match = _SRT_TIMINGS.match(block[1].strip())
        if match is None:
            problems.append(f"cue {identifier}: timestamp: malformed timings {block[1]!r}")
            continue
        payload = tuple(block[2:])
        problems.extend(f"cue {identifier}: syntax: '-->' in cue text {line[:40]!r}"
                        for line in payload if "-->" in line)
        cues.append(ParsedCue(identifier, _ms(match, 1), _ms(match, 5), payload, payload))
    return cues, problems


def _check_cues(cues: Sequence[ParsedCue], max_line: int) -> tuple[list[str], list[str]]:
    """The rules every caption format shares: (hard problems, soft problems)."""
    hard: list[str] = []
    soft: list[str] = []
    if not cues:
        return hard, soft
    whole = max(c.end for c in cues) - min(c.start for c in cues)
    seen: set[str] = set()
    latest_end = previous_start = -1
    for index, cue in enumerate(cues):
        name = f"cue {cue.identifier or f'#{index + 1}'}"
        if cue.identifier is not None:
            if cue.identifier in seen:
                hard.append(f"{name}: duplicate-id: the identifier is used by an earlier cue")
            seen.add(cue.identifier)
        duration = cue.end - cue.start
        if duration <= 0:
            hard.append(f"{name}: timestamp: ends at {cue.end} ms, not after its start "
                        f"{cue.start} ms")
        if cue.start < previous_start:
            hard.append(f"{name}: order: starts at {cue.start} ms, before the cue above it "
                        f"({previous_start} ms)")
        elif cue.start < latest_end:
            hard.append(f"{name}: overlap: starts at {cue.start} ms, before an earlier cue ends "
                        f"({latest_end} ms)")
        if not cue.lines:
            hard.append(f"{name}: syntax: the cue has no text")
        if len(cue.lines) > MAX_LINES:
            hard.append(f"{name}: lines: {len(cue.lines)} lines, at most {MAX_LINES}")
        hard.extend(f"{name}: line-length: {len(line)} characters, at most {max_line}: "
                    f"{line!r}" for line in cue.visible if len(line) > max_line)
        if duration > MAX_CUE_MS:
            hard.append(f"{name}: duration: {duration} ms on screen, at most {MAX_CUE_MS}")
        elif 0 < duration < MIN_CUE_MS <= whole:
            hard.append(f"{name}: duration: {duration} ms on screen, at least {MIN_CUE_MS}")
        chars = sum(len(line) for line in cue.visible)
        nxt = cues[index + 1] if index + 1 < len(cues) else None
        room = nxt is None or nxt.start > cue.end
        if 0 < duration < MAX_CUE_MS and chars * 1000 > MAX_CPS * duration and room:
            soft.append(f"{name}: reading-rate: {chars * 1000 / duration:.1f} characters a "
                        f"second, at most {MAX_CPS}, and the cue could have stayed longer")
        previous_start = max(previous_start, cue.start)
        latest_end = max(latest_end, cue.end)
    return hard, soft
