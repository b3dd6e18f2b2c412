"""The built widget script, served at ``/widget.js`` without Node on the server.

The file is ``widget/dist/widget.js`` in a checkout, or ``share/tidings/widget.js`` in an
installed environment (a wheel carries it as data). It is read once, gzipped once, and
served with a content hash: ``/widget.js`` is cached for an hour, the versioned
``/widget/<hash>.js`` forever.
"""

import gzip
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import app as app_package

_CANDIDATES = (
    Path(app_package.__file__).resolve().parents[1] / "widget" / "dist" / "widget.js",
    Path(sys.prefix) / "share" / "tidings" / "widget.js",
)


@dataclass(frozen=True, slots=True)
class WidgetAsset:
    body: bytes
    gzipped: bytes
    version: str


def find_widget_file(configured: str | None = None) -> Path | None:
    candidates = (Path(configured),) if configured else _CANDIDATES
    return next((path for path in candidates if path.is_file()), None)


def load_widget_asset(path: Path) -> WidgetAsset:
    body = path.read_bytes()
    return WidgetAsset(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        version=hashlib.sha256(body).hexdigest()[:12],
    )
