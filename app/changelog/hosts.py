"""Custom host names: a workspace's own ``changelog.example.com`` serving its changelog at ``/``.

Each process keeps a small map of host name -> workspace slug (claimed and unclaimed
names alike), re-checked like the other per-process caches (app/kit/refresh.py), so a
host claimed or released on one replica is honoured by every replica within
``recheck_s``. Only ``/`` and one-segment paths (``/feed.atom``, ``/{announcement}``) are
rewritten onto ``/changelog/{slug}/...``; longer paths (the page's stylesheet, the APIs)
are routed as on any other host name.
"""

import ipaddress
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Scope

from app.kit.refresh import Renewals
from app.workspaces.repository import WorkspaceRepository

_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
MAX_HOST_LENGTH: Final = 253


def normalize_host(value: str) -> str:
    """``Changelog.Example.com.`` -> ``changelog.example.com``; ValueError when not a DNS name."""
    host = value.strip().lower().removesuffix(".")
    if not host or len(host) > MAX_HOST_LENGTH:
        raise ValueError(f"must be a host name of 1 to {MAX_HOST_LENGTH} characters")
    if ":" in host or "/" in host:
        raise ValueError(
            "must be a bare host name such as changelog.example.com (no scheme, port or path)"
        )
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ValueError("must be a host name, not an IP address")
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            "must be a dotted host name of letters, digits and hyphens, such as "
            "changelog.example.com (international names in their xn-- form)"
        )
    return host


def request_host(scope: Scope) -> str | None:
    """The request's host name, lower case, without its port."""
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1").strip().lower()
            if host.startswith("["):
                return None  # an IPv6 literal is never a claimed name
            return host.rsplit(":", 1)[0].removesuffix(".") or None
    return None


@dataclass(slots=True)
class _Entry:
    slug: str | None  # None: no workspace claims this host (cached too)
    checked_at: float


class ChangelogHosts:
    """The pre-routing hook for custom host names (``TidingsApp.route_by_host``)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        recheck_s: float = 1.0,
        max_hosts: int = 10_000,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.recheck_s = recheck_s
        self.max_hosts = max_hosts
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._renewals = Renewals("changelog host")

    async def rewrite(self, scope: Scope) -> Scope:
        """``scope`` itself, or a copy whose path is under the host's changelog."""
        path: str = scope["path"]
        if path.count("/") != 1:
            return scope  # the cheap test first: the widget's hot paths never look further
        host = request_host(scope)
        if host is None or "." not in host:
            return scope
        slug = await self.slug_for(host)
        if slug is None:
            return scope
        rest = path.removeprefix("/")
        target = f"/changelog/{slug}" + (f"/{rest}" if rest else "")
        # The endpoints read "changelog_host" to link from the host's root, not /changelog/{slug}.
        return {**scope, "path": target, "raw_path": target.encode(), "changelog_host": host}

    async def slug_for(self, host: str) -> str | None:
        entry = self._entries.get(host)
        if entry is not None:
            age = time.monotonic() - entry.checked_at
            if self._renewals.may_serve(host, age, self.recheck_s, self._renew, host):
                return entry.slug
        slug: str | None = await self._renewals.wait(host, lambda: self._renew(host))
        return slug

    async def _renew(self, host: str) -> str | None:
        async with self.sessionmaker() as session:
            workspace = await WorkspaceRepository(session).get_by_changelog_host(host)
        slug = workspace.slug if workspace is not None else None
        self._entries[host] = _Entry(slug, time.monotonic())
        self._entries.move_to_end(host)
        while len(self._entries) > self.max_hosts:
            self._entries.popitem(last=False)
        return slug

    async def aclose(self) -> None:
        await self._renewals.aclose()
