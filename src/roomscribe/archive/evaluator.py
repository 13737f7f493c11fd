"""Evaluating a parsed query on one index segment: whoosh walks the postings, numpy the rest.

Whoosh walks the postings of the words (and checks phrase positions); room, date and visibility
are per-document columns tested in numpy for all candidates at once, because whoosh does that one
document at a time in Python. Visibility is applied while the query is evaluated, so totals,
pages and ranking only ever count what the asker may see.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from whoosh import matching, query

from roomscribe.archive.audience import PRIVATE_CODE, Audience
from roomscribe.archive.column_cache import RoomRun, columns_of
from roomscribe.archive.documents import key_of
from roomscribe.archive.index import Index
from roomscribe.archive.query_language import LangMatch, RoomMatch, is_filter
from roomscribe.errors import InvalidInput


class _Leapfrog(matching.IntersectionMatcher):  # type: ignore[misc]
    """Intersection that lists its matches by stepping with `skip_to`.

    Whoosh's own builds a Python set of every id on each side, so `the AND budget` costs as much
    as listing every "the".
    """

    def all_ids(self) -> Iterator[int]:
        return matching.Matcher.all_ids(self)  # type: ignore[no-any-return]


class _And(query.And):  # type: ignore[misc]
    def _matcher(self, subs: list[query.Query], searcher: Any, context: Any) -> Any:
        reader = searcher.reader()
        return self._tree_matcher(subs, _Leapfrog, searcher, context,
                                  lambda q: 0 - q.estimate_size(reader))


def _leapfrog(q: query.Query) -> query.Query:
    if type(q) is query.And:
        return _And([_leapfrog(c) for c in q.subqueries], boost=q.boost)
    return q if q.is_leaf() else q.apply(_leapfrog)



def whoosh_alone(q: query.Query) -> bool:
    """Whoosh can run it alone, at the cost of its words: no room or date anywhere inside, and
    NOT only beside something it can step through (alone or under OR, whoosh would list every
    other document one by one; numpy takes those)."""
    if is_filter(q) or isinstance(q, query.Not):
        return False
    if isinstance(q, query.And):
        positive = [c for c in q.subqueries if not isinstance(c, query.Not)]
        negated = [c.query for c in q.subqueries if isinstance(c, query.Not)]
        return bool(positive) and all(whoosh_alone(c) for c in positive + negated)
    return bool(q.is_leaf()) or all(whoosh_alone(c) for c in q.children())


@dataclass(frozen=True, slots=True)
class HitSet:
    """Matching documents of one segment: ascending ids, and their scores when ranking."""

    ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]

    def where(self, keep: npt.NDArray[np.bool_]) -> HitSet:
        return HitSet(self.ids[keep], self.scores[keep])

    def minus(self, other: HitSet) -> HitSet:
        return self.where(~np.isin(self.ids, other.ids, assume_unique=True))

    def both(self, other: HitSet) -> HitSet:
        ids, mine, theirs = np.intersect1d(self.ids, other.ids, assume_unique=True,
                                           return_indices=True)
        return HitSet(ids, self.scores[mine] + other.scores[theirs])

    @staticmethod
    def either(parts: list[HitSet]) -> HitSet:
        ids = np.concatenate([p.ids for p in parts])
        unique, where = np.unique(ids, return_inverse=True)
        scores = np.bincount(where, weights=np.concatenate([p.scores for p in parts]),
                             minlength=unique.size).astype(np.float64)
        return HitSet(unique.astype(np.int64), scores)


class SegmentEvaluator:
    """Evaluates a parsed query on one index segment."""

    def __init__(self, index: Index, searcher: Any, scored: bool) -> None:
        self.searcher = searcher
        self.reader = searcher.reader()
        self.columns = columns_of(index, self.reader)
        self.scored = scored
        self._live: npt.NDArray[np.bool_] | None = None

    def live(self) -> npt.NDArray[np.bool_]:
        if self._live is None:
            self._live = np.ones(self.reader.doc_count_all(), dtype=np.bool_)
            if self.reader.has_deletions():
                deleted = np.fromiter(self.reader.deleted_docs(), dtype=np.int64)
                self._live[deleted] = False
        return self._live

    def of_mask(self, mask: npt.NDArray[np.bool_]) -> HitSet:
        ids = np.flatnonzero(mask & self.live()).astype(np.int64)
        return HitSet(ids, np.zeros(ids.size))

    def everything(self) -> HitSet:
        return self.of_mask(np.ones(self.reader.doc_count_all(), dtype=np.bool_))

    def _rooms_for(self, q: RoomMatch) -> tuple[list[RoomRun], npt.NDArray[np.int64]]:
        rooms, by_room = self.columns.rooms(self.reader)
        return [r for r in rooms if q.matches(r.room_id, r.title_words)], by_room

    def matching(self, q: query.Query) -> HitSet:
        """Every live document a room or date filter lets through."""
        if isinstance(q, RoomMatch):
            rooms, by_room = self._rooms_for(q)
            runs = [by_room[r.first:r.first + r.count] for r in rooms]
            ids = np.sort(np.concatenate(runs)) if runs else np.zeros(0, dtype=np.int64)
            ids = ids[self.live()[ids]]
            return HitSet(ids, np.zeros(ids.size))
        return self.of_mask(self.keep(q, np.arange(self.reader.doc_count_all())))

    def keep(self, q: query.Query, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which of `ids` a room, language or date filter lets through (tested on those ids
        only)."""
        if isinstance(q, RoomMatch):
            keys = np.array([r.key for r in self._rooms_for(q)[0]], dtype=np.int64)
            return np.isin(self.columns.room[ids], keys)
        if isinstance(q, LangMatch):
            return np.asarray(self.columns.lang[ids] == q.key, dtype=np.bool_)
        dates = self.columns.date[ids]
        keep = np.ones(ids.size, dtype=np.bool_)
        if q.start is not None:
            keep &= dates >= q.start
        if q.end is not None:
            keep &= dates <= q.end
        return keep

    def run(self, q: query.Query) -> HitSet:
        """Whoosh walks the postings (and checks phrase positions)."""
        matcher = _leapfrog(q).matcher(self.searcher)
        if not self.scored:
            ids = np.fromiter(matcher.all_ids(), dtype=np.int64)
            return HitSet(ids, np.zeros(ids.size))
        found: list[int] = []
        scores: list[float] = []
        while matcher.is_active():
            found.append(matcher.id())
            scores.append(matcher.score())
            matcher.next()
        return HitSet(np.array(found, dtype=np.int64), np.array(scores, dtype=np.float64))

    def eval(self, q: query.Query) -> HitSet:
        if whoosh_alone(q):
            return self.run(q)
        if is_filter(q):
            return self.matching(q)
        if isinstance(q, query.Not):
            return self.everything().minus(self.eval(q.query))
        if isinstance(q, query.Or):
            return HitSet.either([self.eval(c) for c in q.subqueries])
        if isinstance(q, query.And):
            return self._and(q.subqueries)
        raise InvalidInput(f"cannot search for {q}")

    def _and(self, subs: list[query.Query]) -> HitSet:
        negative = [c.query for c in subs if isinstance(c, query.Not)]
        positive = [c for c in subs if not isinstance(c, query.Not)]
        words = [c for c in positive if whoosh_alone(c)]
        filters = [c for c in positive if is_filter(c)]
        mixed = [c for c in positive if not whoosh_alone(c) and not is_filter(c)]
        hits = self.run(words[0] if len(words) == 1 else query.And(words)) if words else None
        for sub in mixed:
            part = self.eval(sub)
            hits = part if hits is None else hits.both(part)
        if hits is None:  # filters alone
            hits = self.everything()
        for f in filters:
            hits = hits.where(self.keep(f, hits.ids))
        for sub in negative:
            hits = hits.minus(self.eval(sub))
        return hits

    def visible(self, hits: HitSet, audience: Audience) -> HitSet:
        """Only what the audience may see, before anything is counted, sorted or paged."""
        if audience.codes is None:
            return hits
        codes = self.columns.visibility[hits.ids]
        keep = np.isin(codes, np.array(sorted(audience.codes), dtype=np.int64))
        if audience.host is not None:
            own = (codes == PRIVATE_CODE) & (self.columns.host[hits.ids] == key_of(audience.host))
            if own.any():
                # The 64-bit key only narrows it down; the host id itself decides.
                hosts = self.reader.column_reader("host_id", translate=False)
                wanted = audience.host.encode()
                for i in np.flatnonzero(own).tolist():
                    own[i] = hosts[int(hits.ids[i])] == wanted
                keep |= own
        return hits.where(keep)


