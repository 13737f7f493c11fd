"""The accounts API: register, sign in and out (token or page cookie), follow."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from roomscribe.accounts.schemas import AccountCreate, AccountPublic, SessionCreate, SessionPublic
from roomscribe.accounts.security import (
    SESSION_COOKIE,
    bearer_token,
    client_address,
    json_only,
    session_cookie,
)
from roomscribe.accounts.service import AccountService, public
from roomscribe.accounts.tables import Account, TokenKind


class AccountController(Controller):
    path = "/api/v1/accounts"
    tags = ("accounts",)

    @post("/", operation_id="createAccount", sync_to_thread=True)
    def register(self, request: Request[Any, Any, Any], data: JSONBody[AccountCreate],
                 accounts: NamedDependency[AccountService]) -> AccountPublic:
        """Register; the handle is lower-cased. 409 when it is taken; 429 after too many from
        one address."""
        account = accounts.register(data, client=client_address(request))
        return public(account, account)

    @get("/me", operation_id="getMyAccount", sync_to_thread=False)
    def me(self, caller: NamedDependency[Account]) -> AccountPublic:
        return public(caller, caller)

    @get("/me/following", operation_id="listFollowing", sync_to_thread=True)
    def following(self, caller: NamedDependency[Account],
                  accounts: NamedDependency[AccountService]) -> list[AccountPublic]:
        return [public(caller, a) for a in accounts.following(caller)]

    @put("/me/following/{handle:str}", operation_id="follow", sync_to_thread=True,
         status_code=HTTP_204_NO_CONTENT)
    def follow(self, handle: FromPath[str], caller: NamedDependency[Account],
               accounts: NamedDependency[AccountService]) -> None:
        accounts.follow(caller, handle)

    @delete("/me/following/{handle:str}", operation_id="unfollow", sync_to_thread=True)
    def unfollow(self, handle: FromPath[str], caller: NamedDependency[Account],
                 accounts: NamedDependency[AccountService]) -> None:
        accounts.unfollow(caller, handle)

    @get("/{handle:str}", operation_id="getAccount", sync_to_thread=True)
    def account(self, handle: FromPath[str], caller: NamedDependency[Account],
                accounts: NamedDependency[AccountService]) -> AccountPublic:
        """Anyone's profile; `is_admin` only for admins (and for the account itself)."""
        return accounts.profile(caller, handle)


class SessionController(Controller):
    path = "/api/v1/sessions"
    tags = ("accounts",)

    @post("/", operation_id="signIn", sync_to_thread=True)
    def sign_in(self, request: Request[Any, Any, Any], data: JSONBody[SessionCreate],
                accounts: NamedDependency[AccountService]) -> SessionPublic:
        """Trade a handle and password for a bearer token (401 when either is wrong; 429 after
        too many tries from one address, or too many failures for one handle)."""
        issued = accounts.sign_in(data, client=client_address(request))
        return SessionPublic(token=issued.token, expires_at=issued.expires_at)

    @delete("/current", operation_id="signOut", sync_to_thread=True)
    def sign_out(self, request: Request[Any, Any, Any], caller: NamedDependency[Account],
                 accounts: NamedDependency[AccountService]) -> None:
        """Revoke the bearer token this request carries."""
        accounts.sign_out(bearer_token(request) or "")

    @post("/cookie", operation_id="signInCookie", sync_to_thread=True,
          status_code=HTTP_204_NO_CONTENT, guards=[json_only])
    def sign_in_cookie(self, request: Request[Any, Any, Any], data: JSONBody[SessionCreate],
                       accounts: NamedDependency[AccountService]) -> Response[None]:
        """Sign a browser in for pages: sets the HttpOnly session cookie, returns no token.
        JSON only (415 otherwise), so no form on another site can post it."""
        issued = accounts.sign_in(data, kind=TokenKind.SESSION, client=client_address(request))
        secure = request.url.scheme == "https"
        return Response(None, cookies=[session_cookie(issued.token, issued.expires_at,
                                                      secure=secure)])

    @delete("/cookie", operation_id="signOutCookie", sync_to_thread=True)
    def sign_out_cookie(self, request: Request[Any, Any, Any],
                        accounts: NamedDependency[AccountService]) -> Response[None]:
        """Revoke the page session and clear its cookie."""
        accounts.sign_out(request.cookies.get(SESSION_COOKIE, ""))
        response: Response[None] = Response(None)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
