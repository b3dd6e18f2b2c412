"""Who is calling: typed dependencies for the three kinds of caller.

- ``SecretKeyAuth``: ``Authorization: Bearer sk_...`` — the workspace's admin API.
- ``PublishableKeyAuth``: ``?key=pk_...`` or ``X-Tidings-Key: pk_...`` — widget endpoints.
- ``AdminAuth``: ``Authorization: Bearer <TIDINGS_ADMIN_TOKEN>`` — instance administration.
"""

import hmac
import re
from collections.abc import Iterable, Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from app.config import Settings
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized
from app.workspaces.key_cache import KeyPrincipal, PublishableKeyCache
from app.workspaces.keys import KeyKind, is_well_formed, kind_of
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


QueryPairs = Sequence[tuple[str, str]]

# A whole secret key anywhere in a parameter (``?q=copy sk_...``), not only at its start.
_SECRET_KEY_INSIDE = re.compile(r"(?<![0-9A-Za-z])sk_[0-9A-Za-z]{43}(?![0-9A-Za-z])")


def _refuse_secret_in_query(request: Request) -> None:
    refuse_secret_in_query(request.query_params.multi_items())


def refuse_secret_in_query(pairs: Iterable[tuple[str, str]]) -> None:
    """401 when the query carries a secret key: in any parameter, every value of a repeated
    name included (``?x=sk_...&x=1``), in a name or inside a longer value."""
    # URLs land in access logs, proxies and browser history: a secret there is a leak.
    if any(_carries_secret(name) or _carries_secret(value) for name, value in pairs):
        raise Unauthorized(
            "Secret keys are never accepted in a URL. Send it as 'Authorization: Bearer sk_...' "
            "and rotate this key: it may now be in logs."
        )


def _carries_secret(text: str) -> bool:
    return text.startswith("sk_") or ("sk_" in text and _SECRET_KEY_INSIDE.search(text) is not None)


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
    label = f"API key {api_key.name} ({api_key.preview})"
    return KeyPrincipal(api_key.workspace_id, api_key.id, KeyKind.secret, label)


def publishable_key_of(request: Request) -> str:
    """The publishable key a widget request carries (header first, then ``?key=``)."""
    return publishable_key_from(
        request.headers.get("x-tidings-key"), request.query_params.multi_items()
    )


def publishable_key_from(header: str | None, query: QueryPairs) -> str:
    """The same, from the ``X-Tidings-Key`` header and the query's parameters (the last
    ``key`` wins, as for any parameter).

    A key that is not well formed is refused here, before any lookup or cache: what a
    client presents is kept only once it has the exact shape of a key.
    """
    refuse_secret_in_query(query)
    key = header
    if not key:
        for name, value in query:
            if name == "key":
                key = value
    if not key:
        raise Unauthorized("Pass the publishable key as ?key=pk_... or the X-Tidings-Key header.")
    if kind_of(key) is KeyKind.secret:
        raise Forbidden(
            "Widget endpoints take the publishable key (pk_...); never ship a secret key "
            "to browsers."
        )
    if not is_well_formed(key):
        raise Unauthorized(
            "The publishable key is malformed: it is pk_ and 43 letters and digits; check "
            "that it was copied whole."
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
    if any(
        hmac.compare_digest(text.encode(), token)
        for pair in request.query_params.multi_items()
        for text in pair
    ):
        raise Unauthorized(
            "The admin token is never accepted in a URL. Send it as 'Authorization: Bearer ...' "
            "and change TIDINGS_ADMIN_TOKEN: it may now be in logs."
        )
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), token):
        raise Unauthorized("Send the instance admin token as 'Authorization: Bearer ...'.")


SecretKeyAuth = Annotated[KeyPrincipal, Depends(require_secret_key)]
PublishableKeyAuth = Annotated[KeyPrincipal, Depends(require_publishable_key)]
AdminAuth = Annotated[None, Depends(require_admin_token)]
