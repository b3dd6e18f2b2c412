"""Who is on the other end: the client address, seen through trusted proxies.

``X-Forwarded-For`` is believed only when the peer is a trusted proxy, and then read from
the right: each trusted proxy appends the address it saw, so the right-most address that
is not a trusted proxy is the first one nobody in between could have forged.

IPv6 clients are counted by their /64: one host usually owns a whole /64, and counting
single addresses would let it spread its requests over 2^64 of them.
"""

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.types import Scope

Network = IPv4Network | IPv6Network

_MAX_CLIENT_LENGTH = 64  # an unparseable entry still becomes a bucket name: keep it short


class ClientAddresses:
    def __init__(self, trusted_proxies: Sequence[Network]) -> None:
        self.trusted_proxies = tuple(trusted_proxies)
        # host → (is a trusted proxy, bucket name); parsing an address costs a microsecond.
        self._hosts: dict[str, tuple[bool, str]] = {}

    def client_of(self, scope: Scope) -> str:
        peer = scope.get("client")
        is_proxy, name = self._host(str(peer[0]) if peer else "")
        if not is_proxy:
            return name
        forwarded = [value for key, value in scope["headers"] if key == b"x-forwarded-for"]
        if not forwarded:
            return name
        hops = [_strip_port(hop) for hop in b",".join(forwarded).decode("latin-1").split(",")]
        for hop in reversed(hops):
            is_proxy, name = self._host(hop)
            if not is_proxy:
                return name
        # Every hop is a proxy of ours: the request began inside; the left-most is the origin.
        return self._host(hops[0])[1]

    def is_trusted(self, host: str) -> bool:
        return self._host(host)[0]

    def _host(self, host: str) -> tuple[bool, str]:
        known = self._hosts.get(host)
        if known is None:
            address = _parse(host)
            is_proxy = address is not None and any(
                address in network for network in self.trusted_proxies
            )
            known = (is_proxy, _bucket_name(host, address))
            if len(self._hosts) >= 10_000:
                self._hosts.clear()
            self._hosts[host] = known
        return known


def _parse(host: str) -> IPv4Address | IPv6Address | None:
    try:
        address = ip_address(host)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _bucket_name(host: str, address: IPv4Address | IPv6Address | None) -> str:
    if address is None:
        return host[:_MAX_CLIENT_LENGTH] or "unknown"
    if isinstance(address, IPv6Address):
        return str(IPv6Network((address, 64), strict=False))
    return str(address)


def _strip_port(hop: str) -> str:
    hop = hop.strip()
    if hop.startswith("["):  # [2001:db8::1]:443
        return hop[1 : hop.find("]")] if "]" in hop else hop
    if hop.count(":") == 1:  # 203.0.113.7:5123
        return hop.split(":", 1)[0]
    return hop
