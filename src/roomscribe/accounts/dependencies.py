"""Who is asking: the dependencies every handler declares with `NamedDependency[...]`.

- `accounts`: the AccountService on `app.state`.
- `viewer`: the signed-in Account of an API request, or None when it carries no credentials.
- `caller`: the same, but a request without credentials is refused (401).
- `stream_viewer`: like `viewer`, for the caption event stream (accepts `?token=` and the cookie).
- `downloader`: the caller of a download (GET only): a bearer token, `?token=` or the page cookie,
  so the host's download page links work in a browser; refused (401) without credentials.

A request that carries a token that is unknown or expired is refused even where anonymous access is
allowed: silently treating it as anonymous would hide the expiry from the client.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from roomscribe.accounts.security import bearer_token, stream_token
from roomscribe.accounts.service import AccountService
from roomscribe.accounts.tables import Account
from roomscribe.errors import NotAuthenticated


def provide_accounts(state: State) -> AccountService:
    service: AccountService = state.accounts
    return service


def provide_viewer(request: Request[Any, Any, Any],
                   accounts: NamedDependency[AccountService]) -> Account | None:
    return accounts.identify(bearer_token(request))


def provide_stream_viewer(request: Request[Any, Any, Any],
                          accounts: NamedDependency[AccountService]) -> Account | None:
    return accounts.identify(stream_token(request))


def provide_caller(viewer: NamedDependency[Account | None]) -> Account:
    if viewer is None:
        raise NotAuthenticated("sign in first: send 'Authorization: Bearer TOKEN'")
    return viewer


def provide_downloader(stream_viewer: NamedDependency[Account | None]) -> Account:
    if stream_viewer is None:
        raise NotAuthenticated("sign in first: send 'Authorization: Bearer TOKEN' or sign in")
    return stream_viewer


DEPENDENCIES = {
    "accounts": Provide(provide_accounts, sync_to_thread=False),
    # Token lookups touch the database, so they run in a worker thread.
    "viewer": Provide(provide_viewer, sync_to_thread=True),
    "stream_viewer": Provide(provide_stream_viewer, sync_to_thread=True),
    "caller": Provide(provide_caller, sync_to_thread=False),
    "downloader": Provide(provide_downloader, sync_to_thread=False),
}
