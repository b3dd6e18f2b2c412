"""Outbound requests reach only public addresses (SSRF), checked on the address connected to.

A webhook URL is chosen by a workspace, so without this a secret key could make the server
call its own admin ports, the cloud metadata service (169.254.169.254) or the private
network. Checking the URL when it is saved is not enough: DNS may answer differently when
the delivery connects (DNS rebinding). So the check lives in the network backend of the
HTTP client: it resolves the host once, refuses any non-public answer, and connects to
exactly the address it checked, while TLS and the ``Host`` header keep the URL's name.
"""

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

import httpcore
from httpcore import AsyncNetworkStream

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# IPv6 forms that carry an IPv4 address a router may deliver to: judged by that address.
_NAT64 = IPv6Network("64:ff9b::/96")


class BlockedAddress(Exception):
    """The host is, or resolves to, an address webhooks may not reach."""


class UnresolvableHost(Exception):
    """DNS has no address for the host."""


async def system_resolver(host: str, port: int) -> list[str]:
    try:
        answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"{host} does not resolve ({exc})") from None
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why webhooks may not reach ``address`` (e.g. "a loopback address"), or None."""
    if isinstance(address, IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = refusal_reason(inner)
            return f"{reason} (inside {address})" if reason else None
        if address.is_site_local:
            return "a site-local address"
    for kind, matches in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a reserved", address.is_reserved),
        ("a private", address.is_private),
        ("a non-public", not address.is_global),
    ):
        if matches:
            return f"{kind} address"
    return None


def literal_address(host: str) -> IPAddress | None:
    try:
        return ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


async def checked_addresses(
    host: str, port: int, *, allow_private: bool, resolver: Resolver = system_resolver
) -> list[IPAddress]:
    """The addresses to connect to for ``host``; refuses when any of them is not public.

    One refused answer refuses the host: picking the public one out of a mixed answer
    would let a rebinding attacker win whenever the order changes.
    """
    literal = literal_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        answers = await resolver(host, port)
        addresses = []
        for answer in answers:
            parsed = literal_address(answer.split("%", 1)[0])
            if parsed is not None:
                addresses.append(parsed)
        if not addresses:
            raise UnresolvableHost(f"{host} does not resolve to any address")
    if not allow_private:
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None:
                shown = host if literal is not None else f"{host} resolves to {address}, which"
                raise BlockedAddress(f"{shown} is {reason}; webhooks only reach public ones")
    return addresses


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Connects only to checked addresses; the pinned address is the one checked."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        addresses = await checked_addresses(
            host, port, allow_private=self._allow_private, resolver=self._resolver
        )
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        raise BlockedAddress("webhooks never connect to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
