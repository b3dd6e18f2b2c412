"""The page's stylesheet: read once, served under a name holding its hash (cached forever),
and linked with Subresource Integrity."""

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"
ASSET_PREFIX = "/changelog/_assets/"


@dataclass(frozen=True, slots=True)
class Stylesheet:
    body: bytes
    name: str  # changelog-<hash>.css
    integrity: str  # sha384-...

    @property
    def url(self) -> str:
        return ASSET_PREFIX + self.name


@cache
def stylesheet() -> Stylesheet:
    body = (STATIC / "changelog.css").read_bytes()
    digest = hashlib.sha384(body).digest()
    name = f"changelog-{hashlib.sha256(body).hexdigest()[:12]}.css"
    return Stylesheet(body, name, "sha384-" + base64.b64encode(digest).decode())


def style_source_hash(css: str) -> str:
    """The CSP source (``'sha256-...'``) admitting one inline ``<style>`` element."""
    digest = hashlib.sha256(css.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"
