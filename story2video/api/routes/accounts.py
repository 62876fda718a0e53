"""Accounts for people (ACCOUNTS_ENABLED): register, log in, refresh, log out, who am I.

The access token travels in the JSON body (the client sends it as ``Authorization: Bearer``); the
refresh token only ever in an HttpOnly, SameSite=Strict cookie scoped to these routes (Secure when
PUBLIC_BASE_URL is https), rotated on every refresh.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Cookie, Depends, Request, Response

from story2video.accounts.service import AccountService, Session
from story2video.api.auth import PrincipalDep
from story2video.api.deps import SettingsDep
from story2video.errors import NotFound, Unauthorized
from story2video.protocol import Account, AccountsConfig, Credentials, ErrorResponse, Registered, TokenGrant

router = APIRouter(prefix="/api/v1/auth", tags=["accounts"])
REFRESH_COOKIE = "refresh_token"
COOKIE_PATH = "/api/v1/auth"
_RESPONSES = {400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}}


def account_service(request: Request) -> AccountService:
    accounts: AccountService | None = request.app.state.accounts
    if accounts is None:
        raise NotFound("accounts are off on this service (ACCOUNTS_ENABLED); use an API key")
    return accounts


AccountsDep = Annotated[AccountService, Depends(account_service)]
RefreshCookie = Annotated[
    str | None, Cookie(alias=REFRESH_COOKIE, description="Set by log-in and refresh (HttpOnly)", examples=["Qm9vdHN0cmFwIHRva2VuIGZvciBkb2NzIG9ubHk"])
]
CredentialsBody = Annotated[
    Credentials, Body(openapi_examples={"person": {"summary": "A person", "value": {"username": "linxia", "password": "correct horse battery"}}})
]


@router.get("/config", response_model=AccountsConfig)
def accounts_config(request: Request):
    """Whether people can register and log in here (the page asks before it shows a sign-in form)."""
    return {"accounts_enabled": request.app.state.accounts is not None}


@router.post("/register", response_model=Registered, status_code=201, responses={**_RESPONSES, 409: {"model": ErrorResponse}})
def register(body: CredentialsBody, accounts: AccountsDep):
    """Create an account. Its stories are kept under the answer's `user_id`."""
    account = accounts.register(body.username, body.password)
    return {"id": account.account_id, "username": account.username, "user_id": account.user_id}


@router.post("/login", response_model=TokenGrant, responses={**_RESPONSES, 429: {"model": ErrorResponse}})
def log_in(body: CredentialsBody, request: Request, response: Response, accounts: AccountsDep, settings: SettingsDep):
    """An access token (body) and a refresh token (HttpOnly cookie). Failed attempts are limited per
    username and per client address (429 + Retry-After)."""
    address = request.client.host if request.client else "unknown"
    session = accounts.log_in(body.username, body.password, address)
    return _granted(session, response, settings.public_base_url)


@router.post("/refresh", response_model=TokenGrant, responses=_RESPONSES)
def refresh(response: Response, accounts: AccountsDep, settings: SettingsDep, refresh_token: RefreshCookie = None):
    """A new access token from the refresh cookie, which is replaced by a new one (each is used once)."""
    return _granted(accounts.refresh(refresh_token), response, settings.public_base_url)


@router.post("/logout", status_code=204, responses=_RESPONSES)
def log_out(accounts: AccountsDep, settings: SettingsDep, refresh_token: RefreshCookie = None) -> Response:
    """End this log-in: its refresh token (and every one rotated from it) stops working; the cookie is cleared.
    Access tokens already handed out stay valid until they expire (ACCESS_TOKEN_TTL_S)."""
    accounts.log_out(refresh_token)
    response = Response(status_code=204)
    _forget_cookie(response, settings.public_base_url)
    return response


@router.get("/me", response_model=Account, responses=_RESPONSES)
def who_am_i(principal: PrincipalDep, accounts: AccountsDep):
    """The signed-in person's account (an access token is needed, not an API key)."""
    if principal.account_id is None:
        raise Unauthorized("this route needs a person's access token, not an API key")
    account = accounts.account(principal.account_id)
    return {"id": account.account_id, "username": account.username, "user_id": account.user_id}


def cookie_path(public_base_url: str) -> str:
    """These routes' path as the browser sees it: behind a proxy that serves the service under a
    prefix, PUBLIC_BASE_URL names the prefix."""
    return urlsplit(public_base_url).path.rstrip("/") + COOKIE_PATH


def _granted(session: Session, response: Response, public_base_url: str) -> dict:
    response.set_cookie(
        REFRESH_COOKIE,
        session.refresh_token,
        max_age=session.refresh_expires_in,
        path=cookie_path(public_base_url),
        httponly=True,
        secure=public_base_url.lower().startswith("https://"),
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    account = session.account
    return {
        "access_token": session.access_token,
        "token_type": "Bearer",
        "expires_in": session.expires_in,
        "user_id": account.user_id,
        "username": account.username,
    }


def _forget_cookie(response: Response, public_base_url: str) -> None:
    response.delete_cookie(
        REFRESH_COOKIE, path=cookie_path(public_base_url), httponly=True, secure=public_base_url.lower().startswith("https://"), samesite="strict"
    )
