"""The client address behind trusted proxies: the right-most address nobody could forge."""

from ipaddress import ip_network
from typing import Any

import pytest

from app.ratelimit.clients import ClientAddresses

PROXIES = ClientAddresses([ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32")])


def scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "client": (peer, 5000) if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


class TestClientAddress:
    @pytest.mark.parametrize(
        ("peer", "forwarded", "client"),
        [
            # A direct client is itself, whatever it claims.
            ("198.51.100.7", ["203.0.113.1"], "198.51.100.7"),
            # Through our proxy: the address the proxy saw.
            ("10.0.0.2", ["203.0.113.5"], "203.0.113.5"),
            # A client forging the header: its forgery is on the left, ignored.
            ("10.0.0.2", ["6.6.6.6, 203.0.113.5"], "203.0.113.5"),
            # Two proxies of ours in a row; several header lines count as one list.
            ("10.0.0.2", ["1.1.1.1, 203.0.113.5", "10.0.0.9"], "203.0.113.5"),
            # Ports, in both spellings.
            ("10.0.0.2", ["203.0.113.5:5123"], "203.0.113.5"),
            ("10.0.0.2", ["[2001:db8::1]:443"], "2001:db8::/64"),
            # Only proxies: the request began inside.
            ("10.0.0.2", ["10.1.2.3, 10.0.0.9"], "10.1.2.3"),
            # A trusted peer without the header is the client.
            ("127.0.0.1", [], "127.0.0.1"),
            # IPv6 clients count by /64; IPv4-mapped addresses are IPv4.
            ("2001:db8:1:2:aaaa::1", [], "2001:db8:1:2::/64"),
            ("::ffff:198.51.100.7", [], "198.51.100.7"),
            # Not an address (a test client's name): kept as is, shortened.
            ("testclient", [], "testclient"),
            ("10.0.0.2", ["unknown"], "unknown"),
            ("10.0.0.2", ["x" * 500], "x" * 64),
        ],
    )
    def test_client_of(self, peer: str, forwarded: list[str], client: str) -> None:
        assert PROXIES.client_of(scope(peer, *forwarded)) == client

    def test_without_trusted_proxies_the_header_is_ignored(self) -> None:
        nobody = ClientAddresses([])
        assert nobody.client_of(scope("127.0.0.1", "203.0.113.5")) == "127.0.0.1"

    def test_no_peer_at_all(self) -> None:
        assert PROXIES.client_of(scope(None)) == "unknown"
