"""Caption cues: turning word timestamps into cues people can read.

Whisper's segments are units of decoding, not of reading: they run to any length, break lines
nowhere and vanish the moment the last word ends. Caption guidelines (Netflix, BBC, DCMP) agree on
what a readable cue is, and this module builds cues that follow them from `Segment.words`:

- at most two lines of at most `max_line` characters (42 by default; 32 and 37 for small screens);
- on screen for 1 to 7 seconds, and long enough to read at 20 characters a second when the silence
  after the speech leaves room for it; cues never overlap and start in order;
- lines and cues break at natural points (after punctuation, at pauses) and never between an
  article, determiner or preposition and the word it belongs to;
- a speaker change always starts a new cue.

Where to break is chosen by dynamic programming over each speaker's turn (every admissible cue is
scored and the cheapest sequence wins), which finds the natural breaks a greedy line filler misses.
All times are whole milliseconds internally, so rounding can never reorder or overlap cues.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from roomscribe.asr.results import Segment
from roomscribe.errors import InvalidInput

MAX_LINES = 2
MIN_CUE_MS = 1_000
MAX_CUE_MS = 7_000
MAX_CPS = 20
"""Reading rate limit in characters a second (Netflix adult programmes; BBC allows less)."""
MIN_MAX_LINE = 20
"""Narrower lines leave no room for a speaker label and a word; no guideline goes below 32."""
_LABEL_TEXT_ROOM = 12
"""Characters a labelled first line keeps for speech however long the speaker's name is."""

# Never the last word of a line: they belong with the word that follows.
_BOUND_WORDS = frozenset({
    "a", "an", "the", "my", "your", "our", "their", "its", "every", "each", "either", "neither",
    "of", "to", "in", "on", "at", "by", "for", "with", "from", "into", "onto", "upon", "about",
    "above", "below", "over", "under", "between", "through", "after", "before", "during",
    "without", "within", "toward", "towards", "across", "against", "among", "around", "behind",
    "beyond", "beneath", "beside", "besides", "despite", "except", "inside", "outside", "per",
    "via", "than", "unlike", "like", "near",
})
# Words that usually lead into what follows, but can close a phrase ("I saw her", "and that").
_LEADING_WORDS = frozenset({
    "and", "or", "but", "nor", "so", "if", "that", "this", "these", "those", "his", "her",
    "some", "any", "no", "whose", "which", "who", "when", "where", "because", "i", "i'm", "we",
    "you", "they", "he", "she", "it's", "is", "are", "was", "were", "not",
})
_SENTENCE_END = re.compile(r"[.?!…]['\"”’)\]]*$")
_CLAUSE_END = re.compile(r"[,;:—–-]['\"”’)\]]*$")

# Costs of the break search (dimensionless; only their order and ratios matter).
_CUE_COST = 12.0
"""Each cue costs this much, so cues are filled rather than chopped at every comma."""
_BREAK_BOUND = 1_000.0
_BREAK_PLAIN_CUE = 10.0
_BREAK_PLAIN_LINE = 4.0
_CLAUSE = 0.4
"""A break after a comma costs this fraction of one after a plain word."""
_LEADING = 2.5
"""A break after a word of `_LEADING_WORDS` costs this many times one after a plain word."""
_PAUSE_BONUS_MAX = 6.0
_PAUSE_BONUS_MS = 150.0
"""A pause after a word makes a cue break there cheaper by one unit every this many ms."""
_INNER_PAUSE_MS = 1_200
"""Silences longer than this inside one cue cost, as the cue would sit over the silence."""
_IMBALANCE = 0.15
"""Cost per character of difference between two lines of one cue (balanced lines read best)."""


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption on screen: its time span in seconds (whole milliseconds) and its lines."""

    start: float
    end: float
    lines: tuple[str, ...]
    """One or two lines of plain text, not escaped for any format and without a speaker label."""
    speaker: str | None = None

    @property
    def text(self) -> str:
        return " ".join(self.lines)


@dataclass(frozen=True, slots=True)
class _Planned:
    """A cue before timing: its lines and the span of its speech in ms."""

    speech_start: int
    speech_end: int
    lines: tuple[str, ...]
    speaker: str | None
    label: int
    """Characters of the speaker label shown with it, which take reading time too."""


@dataclass(frozen=True, slots=True)
class _Token:
    """A word as the break search sees it: clean text, times in ms, and where it came from."""

    start: int
    end: int
    text: str
    speaker: str | None
    segment: int


def to_ms(seconds: float) -> int:
    """Seconds to whole milliseconds, the one rounding every caption time goes through."""
    return round(seconds * 1000)


def speaker_label(speaker: str | None, max_line: int = 42) -> str:
    """The `Name: ` prefix formats without voice tags (SRT) put before a cue's first line.

    A long name is shortened so the labelled line keeps room for speech.
    """
    name = clean_speaker(speaker)
    if name is None:
        return ""
    room = max_line - _LABEL_TEXT_ROOM - len(": ")
    if len(name) > room:
        name = name[: room - 1].rstrip() + "…"
    return f"{name}: "


def clean_speaker(speaker: str | None) -> str | None:
    """The speaker's name on one line, or None when there is no usable name."""
    if speaker is None:
        return None
    name = " ".join(speaker.split())
    return name or None


def build_cues(
    segments: Sequence[Segment],
    *,
    max_line: int = 42,
    speaker_labels: bool = False,
) -> list[Cue]:
    """Caption cues for `segments`, following the guidelines in this module's docstring.

    `speaker_labels` is for formats that print `speaker_label()` before the first line (SRT):
    the label then takes room on that line and counts towards the reading rate.
    """
    if max_line < MIN_MAX_LINE:
        raise InvalidInput(f"max_line {max_line} is too narrow; use at least {MIN_MAX_LINE}")
    tokens = _tokens(segments)
    planned: list[_Planned] = []
    for turn in _turns(tokens):
        label = len(speaker_label(turn[0].speaker, max_line)) if speaker_labels else 0
        width = max_line - label
        planned.extend(_plan_turn(_fit_words(turn, width), width, max_line, label))
    return _time_cues(planned)


def _tokens(segments: Sequence[Segment]) -> list[_Token]:
    """Every word in time order, with clean text and non-decreasing, non-overlapping times."""
    raw: list[_Token] = []
    for index, seg in enumerate(segments):
        speaker = clean_speaker(seg.speaker)
        if seg.words:
            for word in seg.words:
                raw.extend(_split_text(word.text, word.start, word.end, speaker, index))
        else:
            # Without word timestamps, the segment's words share its span by length.
            raw.extend(_split_text(seg.text, seg.start, seg.end, speaker, index))
    tokens: list[_Token] = []
    previous = 0
    for tok in raw:
        start = max(tok.start, previous)
        tokens.append(_Token(start, max(tok.end, start), tok.text, tok.speaker, tok.segment))
        previous = start
    # A word may not run into the next one: the next cue starts where the next word does.
    for i in range(len(tokens) - 1):
        tok, nxt = tokens[i], tokens[i + 1]
        if tok.end > nxt.start:
            tokens[i] = _Token(tok.start, nxt.start, tok.text, tok.speaker, tok.segment)
    return tokens


def _split_text(text: str, start: float, end: float, speaker: str | None,
                segment: int) -> list[_Token]:
    parts = text.split()
    if not parts:
        return []
    t0 = _ms(start)
    t1 = max(_ms(end), t0)
    return _spread(parts, t0, t1, speaker, segment)


def _ms(seconds: float) -> int:
    return to_ms(seconds) if math.isfinite(seconds) and seconds > 0 else 0


def _spread(parts: Sequence[str], t0: int, t1: int, speaker: str | None,
            segment: int) -> list[_Token]:
    """Share the span t0..t1 among `parts` in proportion to their length."""
    total = sum(len(p) for p in parts)
    tokens = []
    done = 0
    for part in parts:
        a = t0 + (t1 - t0) * done // total
        done += len(part)
        tokens.append(_Token(a, t0 + (t1 - t0) * done // total, part, speaker, segment))
    return tokens


def _turns(tokens: Sequence[_Token]) -> Iterable[list[_Token]]:
    """Runs of consecutive words by one speaker: no cue may span two of them."""
    turn: list[_Token] = []
    for tok in tokens:
        if turn and tok.speaker != turn[-1].speaker:
            yield turn
            turn = []
        turn.append(tok)
    if turn:
        yield turn


def _fit_words(words: Sequence[_Token], width: int) -> list[_Token]:
    """Cut any word wider than a line into line-wide pieces (URLs, long numbers, noise)."""
    fitted: list[_Token] = []
    for w in words:
        if len(w.text) <= width:
            fitted.append(w)
            continue
        pieces = [w.text[i:i + width] for i in range(0, len(w.text), width)]
        fitted.extend(_spread(pieces, w.start, w.end, w.speaker, w.segment))
    return fitted


def _bare(word: str) -> str:
    return re.sub(r"[^\w']+", "", word).lower()


def _break_cost(word: str, *, cue: bool) -> float:
    """What it costs to end a line (or a whole cue when `cue`) after `word`."""
    if _SENTENCE_END.search(word):
        return 0.0
    plain = _BREAK_PLAIN_CUE if cue else _BREAK_PLAIN_LINE
    if _CLAUSE_END.search(word):
        return plain * _CLAUSE
    bare = _bare(word)
    if bare in _BOUND_WORDS:
        return _BREAK_BOUND
    if bare in _LEADING_WORDS:
        return plain * _LEADING
    return plain


class _Turn:
    """One speaker's words with the prefix sums the break search needs in O(1)."""

    def __init__(self, words: Sequence[_Token], width: int, max_line: int, label: int) -> None:
        self.words = words
        self.first_width = width
        self.max_line = max_line
        self.label = label
        self.chars = [0]
        for w in words:
            self.chars.append(self.chars[-1] + len(w.text))
        self.line_cost = [_break_cost(w.text, cue=False) for w in words]

    def length(self, i: int, j: int) -> int:
        """Characters of words i..j-1 on one line."""
        return self.chars[j] - self.chars[i] + (j - i - 1)

    def lines(self, i: int, j: int) -> tuple[float, int] | None:
        """The cheapest layout of words i..j-1 as (cost, index of the second line's first word).

        The index equals j for a single line; None when the words do not fit in two lines.
        """
        if self.length(i, j) <= self.first_width:
            return 0.0, j
        best: tuple[float, int] | None = None
        for k in range(i + 1, j):
            first = self.length(i, k)
            if first > self.first_width:
                break
            second = self.length(k, j)
            if second > self.max_line:
                continue
            cost = self.line_cost[k - 1] + _IMBALANCE * abs(first + self.label - second)
            if best is None or cost < best[0]:
                best = (cost, k)
        return best


def _plan_turn(words: Sequence[_Token], width: int, max_line: int,
               label: int) -> list[_Planned]:
    """Split one speaker's words into cues with the cheapest breaks (times set later)."""
    turn = _Turn(words, width, max_line, label)
    n = len(words)
    most_chars = width + 1 + max_line
    cue_cost = [_cue_break_cost(words, j) for j in range(n)]
    best: list[float] = [0.0] + [math.inf] * n
    choice: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    for j in range(1, n + 1):
        end = words[j - 1].end
        pauses = 0.0
        for i in range(j - 1, -1, -1):
            if i < j - 1:
                if turn.length(i, j) > most_chars or end - words[i].start > MAX_CUE_MS:
                    break
                gap = words[i + 1].start - words[i].end
                pauses += max(0, gap - _INNER_PAUSE_MS) / 50
            layout = turn.lines(i, j)
            if layout is None:
                continue
            span = end - words[i].start
            cost = (best[i] + _CUE_COST + layout[0] + pauses
                    + max(0, MIN_CUE_MS - span) / 40
                    + (cue_cost[j - 1] if j < n else 0.0))
            if cost < best[j]:
                best[j] = cost
                choice[j] = (i, layout[1])
    cues: list[_Planned] = []
    j = n
    while j > 0:
        i, k = choice[j]
        lines = tuple(" ".join(w.text for w in words[a:b]) for a, b in ((i, k), (k, j)) if a < b)
        cues.append(_Planned(words[i].start, words[j - 1].end, lines, words[i].speaker, label))
        j = i
    cues.reverse()
    return cues


def _cue_break_cost(words: Sequence[_Token], j: int) -> float:
    """What it costs to end a cue after word j of a turn: punctuation, pauses, segment ends."""
    word = words[j]
    cost = _break_cost(word.text, cue=True)
    if j + 1 < len(words):
        nxt = words[j + 1]
        if nxt.segment != word.segment and cost < _BREAK_BOUND:
            cost = min(cost, _BREAK_PLAIN_CUE * _CLAUSE)
        cost -= min(_PAUSE_BONUS_MAX, (nxt.start - word.end) / _PAUSE_BONUS_MS)
    return max(cost, 0.0)


def _time_cues(planned: Sequence[_Planned]) -> list[Cue]:
    """Display times for planned cues.

    A cue starts with its first word (or when the previous cue has had its minimum second) and
    stays until it has been readable at `MAX_CPS`, at least a second, at most seven, but not past
    the point where the next cue's speech begins.
    """
    timed: list[Cue] = []
    previous_end = 0
    for index, cue in enumerate(planned):
        start = max(cue.speech_start, previous_end)
        chars = sum(len(line) for line in cue.lines) + cue.label
        wanted = max(cue.speech_end, start + math.ceil(chars * 1000 / MAX_CPS))
        room = planned[index + 1].speech_start if index + 1 < len(planned) else wanted
        end = min(start + MAX_CUE_MS, max(start + MIN_CUE_MS, min(wanted, room)))
        timed.append(Cue(start / 1000, end / 1000, cue.lines, cue.speaker))
        previous_end = end
    return timed
