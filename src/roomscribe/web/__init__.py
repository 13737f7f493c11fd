"""Server-rendered pages for people: Jinja templates, a stylesheet and small scripts.

Pages are HTML first: every control is a native element (links, buttons, forms, fieldsets), every
form works without script, and script adds only what HTML cannot do: the live captions client
(`static/captions.js`: WebSocket with an SSE fallback, finals appended to a `role="log"` region,
the partial line beside it), caption settings (`static/caption-settings.js`), microphone capture
(`static/mic.js` with the `static/pcm-worklet.js` AudioWorklet), background form posts and panel
refreshes (`static/site.js`).

    pages.py       page handlers (GET) and the account and new-room forms
    actions.py     the room pages' form actions (POST), one RoomService call each
    views.py       what each page shows, gathered from the services
    forms.py       reading posted fields; friendly messages for refusals
    responses.py   templates, JSON for scripts, redirects and error pages
    security.py    CSRF protection, response headers, local redirects
    presets.py     caption colour presets (each at least 4.5:1), fonts and sizes
    admin.py       the admin console (admins only): reports, holds, purges, audit log
    retention.py   a recorded room's download page and its report form
    archive.py     search across rooms, and a recorded room's replay
    account.py     my rooms, account settings (name, password, my data, closing), profiles
    room_settings.py  a room's settings (its host's), and a scheduled room's calendar file
    transcript.py  the host's transcript editor (words and speaker labels, new versions)

Templates extend `templates/base.html` (skip link, landmarks, navigation, visible focus) and share
the macros in `templates/macros.html`; later pages (archive, admin) extend the same layout.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from jinja2 import StrictUndefined
from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from roomscribe import __version__, languages
from roomscribe.config import Settings
from roomscribe.errors import RoomscribeError
from roomscribe.visibility import AUDIENCE
from roomscribe.web import presets
from roomscribe.web.account import AccountPageController
from roomscribe.web.actions import RoomActionController
from roomscribe.web.admin import AdminPageController
from roomscribe.web.archive import ArchivePageController
from roomscribe.web.pages import (
    FormController,
    PageController,
    provide_page_caller,
    provide_page_viewer,
)
from roomscribe.web.responses import page_error
from roomscribe.web.retention import RetentionPageController
from roomscribe.web.room_settings import RoomSettingsController
from roomscribe.web.security import HEADERS, csrf_config
from roomscribe.web.transcript import TranscriptPageController
from roomscribe.web.views import REACTIONS, ROLE_NAMES, VISIBILITIES

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def routers(settings: Settings) -> list[Router]:
    """The pages (cookie sign-in, CSRF-checked forms, HTML errors) and their static files."""
    pages = Router(
        path="/", route_handlers=[PageController, FormController, RoomActionController,
                                  RetentionPageController, AdminPageController,
                                  ArchivePageController, AccountPageController,
                                  RoomSettingsController, TranscriptPageController],
        dependencies={"page_viewer": Provide(provide_page_viewer, sync_to_thread=True),
                      "page_caller": Provide(provide_page_caller, sync_to_thread=False)},
        middleware=[DefineMiddleware(CSRFMiddleware, config=csrf_config(settings.data_dir))],
        exception_handlers={RoomscribeError: page_error, HTTPException: page_error},
        response_headers=HEADERS, include_in_schema=False)
    # Revalidated on every load (cheap: ETag), so a new release never meets a stale script.
    static = create_static_files_router(path="/static", directories=[STATIC],
                                        cache_control=CacheControlHeader(no_cache=True))
    return [pages, static]


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine,
                          engine_callback=_configure)


def _configure(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    # A misspelt variable fails the page loudly instead of rendering as nothing.
    env.undefined = StrictUndefined
    env.trim_blocks = env.lstrip_blocks = True
    env.filters["when"] = when
    env.globals["languages"] = languages.languages()
    env.tests["rtl"] = languages.is_rtl
    env.globals.update(
        version=__version__, reactions=REACTIONS, role_names=ROLE_NAMES,
        visibilities=VISIBILITIES, audiences=AUDIENCE,
        presets=presets.PRESETS, fonts=presets.FONTS, default_preset=presets.DEFAULT_PRESET,
        default_font=presets.DEFAULT_FONT, min_contrast=presets.MIN_CONTRAST,
        sizes=(presets.SIZE_MIN, presets.SIZE_MAX, presets.SIZE_STEP, presets.SIZE_DEFAULT),
        opacities=(presets.OPACITY_MIN, presets.OPACITY_MAX, presets.OPACITY_STEP,
                   presets.OPACITY_DEFAULT),
        page_background=presets.PAGE_BACKGROUND)


def when(moment: datetime) -> str:
    """A time as people read it, in UTC; the page script shows it in the reader's own zone."""
    return moment.strftime("%a %-d %b %Y, %H:%M UTC")
