"""Search over transcript segments: one query in, the asker's page of hits out.

The layers, each a module of its own: `query_language` parses and checks what the searcher typed;
`cost` refuses a query that would walk too many postings; `evaluator` runs it on each index
segment (whoosh for the words, numpy over `column_cache`'s columns for room, date and
visibility); this module ranks and pages the hits across segments, and `snippets` marks the
words. Sorting and paging are numpy, because whoosh does them one document at a time in Python.
Nothing is filtered after the page is cut: `total`, pages and ranking count only what the asker
may see.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from whoosh import query

from roomscribe.archive.audience import ANONYMOUS, Asker, Audience
from roomscribe.archive.cost import MAX_COST, check_cost
from roomscribe.archive.evaluator import SegmentEvaluator
from roomscribe.archive.index import Index
from roomscribe.archive.query_language import in_languages, parse_query
from roomscribe.archive.snippets import marked_words, snippet
from roomscribe.errors import InvalidInput
from roomscribe.languages import ENGLISH

MAX_PER_PAGE = 100


class Order(StrEnum):
    NEWEST = "newest"
    """Most recent room first, then in room order."""
    RELEVANCE = "relevance"
    """Best match first (BM25)."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    room_id: str
    room_title: str
    speaker: str
    start: float
    """Seconds on the room clock, which is also the position in the room's recording."""
    end: float
    text: str
    """The segment as spoken, not escaped."""
    highlight: str
    """The segment as HTML: escaped, with `<mark>` around the words that matched."""
    lang: str = ENGLISH
    """The language of `text`: pages mark it (`lang`, and `dir` for right-to-left scripts)."""
    translated: bool = False
    """From the English track of a room in another language (machine translation)."""


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: tuple[SearchHit, ...]
    total: int
    """Every segment the asker may see that matches, across all pages."""
    page: int
    pages: int


def _first(keys: list[npt.NDArray[Any]], limit: int) -> npt.NDArray[np.int64]:
    """Positions of the `limit` smallest rows by `keys` (most significant first), in order.

    Partitioning on the first key keeps the sort to the rows that can make the page; every row
    tied at the cut stays in, so equal keys are ordered the same way on every page.
    """
    primary = keys[0]
    if primary.size > limit:
        cut = np.partition(primary, limit - 1)[limit - 1]
        pick = np.flatnonzero(primary <= cut)
    else:
        pick = np.arange(primary.size)
    ordered = np.lexsort(tuple(k[pick] for k in reversed(keys)))[:limit]
    return pick[ordered].astype(np.int64)


def search_sync(
    index: Index,
    text: str | query.Query,
    *,
    asker: Asker = ANONYMOUS,
    page: int = 1,
    per_page: int = 20,
    order: Order = Order.NEWEST,
    max_cost: int = MAX_COST,
) -> SearchPage:
    """Run a search (blocking; async code uses `search`). `text` is what the searcher typed, or
    the query `parse_query` made of it already."""
    if page < 1:
        raise InvalidInput("page numbers start at 1")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}")
    parsed = parse_query(text) if isinstance(text, str) else text
    audience = Audience.of(asker)
    ranked = order is Order.RELEVANCE
    limit = page * per_page
    total = 0
    rows: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
    with index.searcher() as searcher:
        parsed = in_languages(parsed, languages_in(searcher)).normalize()
        check_cost(parsed, searcher.reader(), max_cost)
        for leaf_searcher, offset in searcher.leaf_searchers():
            if leaf_searcher.reader().segment() is None:
                continue  # no segment at all: nothing indexed yet, or nothing left after purges
            leaf = SegmentEvaluator(index, leaf_searcher, scored=ranked)
            hits = leaf.visible(leaf.eval(parsed), audience)
            total += int(hits.ids.size)
            newest = leaf.columns.newest[hits.ids]
            # Relevance: best score first, ties newest first; otherwise newest first.
            keys = [-hits.scores, newest] if ranked else [newest]
            best = _first([*keys, hits.ids], limit)
            rows.append((-hits.scores[best] if ranked else np.zeros(best.size),
                         newest[best], hits.ids[best] + offset))
        scores = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0)
        newest = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, dtype=np.int64)
        docnums = np.concatenate([r[2] for r in rows]) if rows else np.zeros(0, dtype=np.int64)
        chosen = docnums[_first([scores, newest, docnums], limit)][(page - 1) * per_page:]
        words = frozenset(marked_words(parsed))
        hits_out = tuple(_hit(searcher.stored_fields(int(d)), words) for d in chosen)
    return SearchPage(hits=hits_out, total=total, page=page,
                      pages=max(1, math.ceil(total / per_page)))


def languages_in(searcher: Any) -> frozenset[str]:
    """The languages of the indexed segments (and English, the index's own)."""
    return frozenset({ENGLISH, *(term.decode() for term in searcher.lexicon("lang"))})


def _hit(stored: dict[str, Any], words: frozenset[str]) -> SearchHit:
    text: str = stored["text"]
    lang: str = stored.get("lang", ENGLISH)
    start, end = stored["span"]
    return SearchHit(room_id=stored["room_id"], room_title=stored["room_title"],
                     speaker=stored["speaker"], start=start / 1000, end=end / 1000, text=text,
                     highlight=snippet(text, words, lang), lang=lang,
                     translated=bool(stored.get("translated", False)))


async def search(
    index: Index,
    text: str | query.Query,
    *,
    asker: Asker = ANONYMOUS,
    page: int = 1,
    per_page: int = 20,
    order: Order = Order.NEWEST,
    max_cost: int = MAX_COST,
) -> SearchPage:
    """Run a search in a worker thread, so the event loop never waits on whoosh."""
    return await asyncio.to_thread(search_sync, index, text, asker=asker, page=page,
                                   per_page=per_page, order=order, max_cost=max_cost)
