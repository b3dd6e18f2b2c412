"""Who is calling: typed dependencies for the three kinds of caller.

- ``SecretKeyAuth``: ``Authorization: Bearer sk_...`` — the workspace's admin API.
- ``PublishableKeyAuth``: ``?key=pk_...`` or ``X-Tidings-Key: pk_...`` — widget endpoints.
- ``AdminAuth``: ``Authorization: Bearer <TIDINGS_ADMIN_TOKEN>`` — instance administration.
"""

import hmac
from collections.abc import Iterable, Mapping
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from app.config import Settings
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized
from app.workspaces.key_cache import KeyPrincipal, PublishableKeyCache
from app.workspaces.keys import KeyKind, kind_of
from app.workspaces.service import workspace_service

_bearer = HTTPBearer(auto_error=False, description="A secret key: `Bearer sk_...`")
_admin_bearer = HTTPBearer(
    auto_error=False, scheme_name="AdminToken", description="`Bearer <TIDINGS_ADMIN_TOKEN>`"
)
_key_query = APIKeyQuery(name="key", auto_error=False, description="A publishable key `pk_...`")
_key_header = APIKeyHeader(
    name="X-Tidings-Key", auto_error=False, description="A publishable key `pk_...`"
)

BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _refuse_secret_in_query(request: Request) -> None:
    refuse_secret_in_query(request.query_params.values())


def refuse_secret_in_query(values: Iterable[str]) -> None:
    # URLs land in access logs, proxies and browser history: a secret there is a leak.
    if any(value.startswith("sk_") for value in values):
        raise Unauthorized(
            "Secret keys are never accepted in a URL. Send it as 'Authorization: Bearer sk_...' "
            "and rotate this key: it may now be in logs."
        )


async def require_secret_key(
    request: Request, session: SessionDep, credentials: BearerCredentials
) -> KeyPrincipal:
    _refuse_secret_in_query(request)
    if credentials is None:
        raise Unauthorized("Send a secret key as 'Authorization: Bearer sk_...'.")
    key = credentials.credentials
    if kind_of(key) is KeyKind.publishable:
        await workspace_service.authenticate(session, key)
        raise Forbidden(
            "A publishable key only opens the widget endpoints; use a secret key (sk_...)."
        )
    api_key = await workspace_service.authenticate(session, key)
    return KeyPrincipal(api_key.workspace_id, api_key.id, KeyKind.secret)


def publishable_key_of(request: Request) -> str:
    """The publishable key a widget request carries (header first, then ``?key=``)."""
    return publishable_key_from(request.headers.get("x-tidings-key"), request.query_params)


def publishable_key_from(header: str | None, query: Mapping[str, str]) -> str:
    """The same, from the ``X-Tidings-Key`` header and the query's parameters (last wins)."""
    refuse_secret_in_query(query.values())
    key = header or query.get("key")
    if not key:
        raise Unauthorized("Pass the publishable key as ?key=pk_... or the X-Tidings-Key header.")
    if kind_of(key) is KeyKind.secret:
        raise Forbidden(
            "Widget endpoints take the publishable key (pk_...); never ship a secret key "
            "to browsers."
        )
    return key


async def authenticate_widget_request(request: Request) -> KeyPrincipal:
    """The workspace behind a widget request's publishable key (cached; see key_cache)."""
    cache: PublishableKeyCache = request.app.state.publishable_keys
    return await cache.principal(request.app.state.sessionmaker, publishable_key_of(request))


async def require_publishable_key(
    request: Request,
    _query_key: Annotated[str | None, Depends(_key_query)],
    _header_key: Annotated[str | None, Depends(_key_header)],
) -> KeyPrincipal:
    # The two security dependencies only document where the key goes in OpenAPI.
    return await authenticate_widget_request(request)


async def require_admin_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)],
) -> None:
    _refuse_secret_in_query(request)
    settings: Settings = request.app.state.settings
    if settings.admin_token is None:
        raise Unauthorized(
            "The instance admin API is disabled: set TIDINGS_ADMIN_TOKEN, or use "
            "'tidings workspace create' on the server."
        )
    token = settings.admin_token.get_secret_value().encode()
    if any(hmac.compare_digest(value.encode(), token) for value in request.query_params.values()):
        raise Unauthorized(
            "The admin token is never accepted in a URL. Send it as 'Authorization: Bearer ...' "
            "and change TIDINGS_ADMIN_TOKEN: it may now be in logs."
        )
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), token):
        raise Unauthorized("Send the instance admin token as 'Authorization: Bearer ...'.")


SecretKeyAuth = Annotated[KeyPrincipal, Depends(require_secret_key)]
PublishableKeyAuth = Annotated[KeyPrincipal, Depends(require_publishable_key)]
AdminAuth = Annotated[None, Depends(require_admin_token)]
