"""The console's static files: read once, fingerprinted, gzipped, and given SRI hashes.

A page refers to ``/console/static/<fingerprint>/<path>``: the fingerprint is the file's
content hash, so the answer may be cached for a year, and a new release changes the URL.
"""

import base64
import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

STATIC_ROOT = Path(__file__).parent / "static"
URL_PREFIX = "/console/static"
_COMPRESSIBLE = (".js", ".css", ".svg", ".json", ".txt", ".map")
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class StaticAsset:
    path: str  # relative to static/, with forward slashes
    body: bytes
    gzipped: bytes | None
    media_type: str
    fingerprint: str
    integrity: str  # the value of an SRI integrity attribute

    @property
    def url(self) -> str:
        return f"{URL_PREFIX}/{self.fingerprint}/{self.path}"


class StaticAssets:
    def __init__(self, root: Path = STATIC_ROOT) -> None:
        self.by_path: dict[str, StaticAsset] = {}
        for file in sorted(root.rglob("*")):
            if file.is_file() and not file.name.startswith("."):
                asset = _load(root, file)
                self.by_path[asset.path] = asset

    def get(self, path: str) -> StaticAsset | None:
        return self.by_path.get(path)

    def __getitem__(self, path: str) -> StaticAsset:
        return self.by_path[path]


def _load(root: Path, file: Path) -> StaticAsset:
    body = file.read_bytes()
    path = file.relative_to(root).as_posix()
    digest = hashlib.sha384(body).digest()
    media_type = _TYPES.get(file.suffix) or (
        mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    )
    compressible = file.suffix in _COMPRESSIBLE or file.name.endswith("LICENSE")
    return StaticAsset(
        path=path,
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0) if compressible else None,
        media_type=media_type,
        fingerprint=hashlib.sha256(body).hexdigest()[:12],
        integrity="sha384-" + base64.b64encode(digest).decode(),
    )
