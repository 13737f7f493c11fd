"""The archive pages: search across recorded rooms, and a room's replay with its transcript.

Who may replay, and what a replay is (not a download), is `replay.service`'s to say; these pages
show what it returns. Search hits carry `highlight`, HTML that `archive.search` builds by escaping
the spoken text and wrapping matched words in `<mark>`; it is marked safe here, and only here, on
that contract.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter
from litestar.response import Stream, Template
from markupsafe import Markup

from roomscribe.accounts.security import client_address
from roomscribe.accounts.tables import Account
from roomscribe.archive.search import Order, SearchHit, SearchPage
from roomscribe.archive.service import ArchiveService
from roomscribe.errors import InvalidInput
from roomscribe.params import Page
from roomscribe.recordings.routes import mix_response
from roomscribe.replay.routes import captions_response
from roomscribe.replay.service import Replay, ReplayService
from roomscribe.reports.service import ReportService
from roomscribe.transcripts.schemas import Track
from roomscribe.web.responses import render, sentence

REPLAY = "/r/{room_id:str}/replay"
PER_PAGE = 20


def clock(seconds: float) -> str:
    """A position in a recording as people read it: 4:05, or 1:02:05 past the hour."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# Search --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Hit:
    hit: SearchHit
    href: str
    at: str
    highlight: Markup


@dataclass(frozen=True, slots=True)
class SearchView:
    q: str
    order: Order
    error: str | None = None
    found: SearchPage | None = None
    hits: tuple[Hit, ...] = ()

    def page_href(self, page: int) -> str:
        return "/search?" + urlencode({"q": self.q, "order": self.order.value, "page": page})


def to_hit(hit: SearchHit) -> Hit:
    # Safe by `SearchHit.highlight`'s contract: archive.search escapes the text itself.
    return Hit(hit, f"/r/{hit.room_id}/replay?t={hit.start:.2f}", clock(hit.start),
               Markup(hit.highlight))


async def search_view(archive: ArchiveService, viewer: Account | None, q: str, page: int,
                      order: Order, client: str) -> SearchView:
    """The form, and a page of hits once there is a query; a malformed one says why."""
    q = q.strip()
    if not q:
        return SearchView(q, order)
    try:
        found = await archive.search(viewer, q, page=page, per_page=PER_PAGE, order=order,
                                     client=client)
    except InvalidInput as err:
        return SearchView(q, order, error=sentence(str(err)))
    return SearchView(q, order, found=found, hits=tuple(to_hit(hit) for hit in found.hits))


# Replay --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Line:
    start: float
    end: float
    at: str
    speaker: str
    text: str
    lang: str | None
    """What it was said in, for the page's `lang` (a room of several languages differs by line)."""


def lines(replay: Replay) -> tuple[Line, ...]:
    return tuple(Line(s.start, s.end, clock(s.start), s.speaker or "", s.text, s.language)
                 for s in replay.segments)


class ArchivePageController(Controller):
    include_in_schema = False

    @get("/search")
    async def search(self, request: Request[Any, Any, Any],
                     page_viewer: NamedDependency[Account | None],
                     archive: NamedDependency[ArchiveService], q: FromQuery[str] = "",
                     page: Page = 1, order: FromQuery[Order] = Order.NEWEST) -> Template:
        """Search every room the viewer may see; a malformed query is 400 with the reason."""
        view = await search_view(archive, page_viewer, q, page, order, client_address(request))
        return render("search.html", page_viewer, status=400 if view.error else 200,
                      view=view, orders=ORDER_NAMES)

    @get(REPLAY)
    async def replay(self, room_id: FromPath[str], page_viewer: NamedDependency[Account | None],
                     replay: NamedDependency[ReplayService],
                     reports: NamedDependency[ReportService],
                     t: FromQuery[float] = 0.0) -> Template:
        """The recording with its captions, and the transcript beside it; `?t=` starts there."""
        found = await replay.page(page_viewer, room_id)
        start = max(0.0, t)
        may_report = await asyncio.to_thread(reports.may_report, room_id,
                                             page_viewer.id if page_viewer else None)
        return render("replay.html", page_viewer, replay=found, lines=lines(found), start=start,
                      start_at=clock(start), keeps_for=replay.retention.durations.retention,
                      may_report=may_report)

    @get(REPLAY + "/audio", media_type="audio/ogg")
    async def audio(
        self, room_id: FromPath[str], page_viewer: NamedDependency[Account | None],
        replay: NamedDependency[ReplayService],
        byte_range: Annotated[str | None, HeaderParameter(name="range")] = None,
    ) -> Stream:
        """The replay's audio, in ranges, so the player can seek."""
        return mix_response(await replay.audio(page_viewer, room_id, byte_range))

    @get(REPLAY + "/captions.vtt")
    async def captions(self, room_id: FromPath[str], page_viewer: NamedDependency[Account | None],
                       replay: NamedDependency[ReplayService],
                       track: FromQuery[Track] = "spoken") -> Response[str]:
        """The replay's captions tracks."""
        return captions_response(await replay.captions(page_viewer, room_id, track))


ORDER_NAMES: dict[Order, str] = {Order.NEWEST: "Newest rooms first",
                                 Order.RELEVANCE: "Best match first"}
