"""The built widget script, served at ``/widget.js`` without Node on the server.

The file is ``widget/dist/widget.js`` in a checkout, or ``share/tidings/widget.js`` in an
installed environment (a wheel carries it as data). It is read once, gzipped once, and
served with a content hash: ``/widget.js`` is cached for an hour, the versioned
``/widget/<hash>.js`` forever.

``widget.js`` is a small loader; the rest of the widget (the feed's items, popovers,
banners, modals) is ``widget-ui.js`` next to it, which the loader imports on first use
from ``/widget/<its hash>.js`` (the hash is built into the loader).
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


UI_CHUNK_NAME = "widget-ui.js"


@dataclass(frozen=True, slots=True)
class WidgetAsset:
    body: bytes
    gzipped: bytes
    version: str
    ui_chunk: "WidgetAsset | None" = None

    def by_version(self, version: str) -> "WidgetAsset | None":
        """The loader or its UI chunk, whichever has this content hash."""
        if version == self.version:
            return self
        return self.ui_chunk if self.ui_chunk and self.ui_chunk.version == version else None


def find_widget_file(configured: str | None = None) -> Path | None:
    candidates = (Path(configured),) if configured else _CANDIDATES
    return next((path for path in candidates if path.is_file()), None)


def load_widget_asset(path: Path) -> WidgetAsset:
    chunk = path.with_name(UI_CHUNK_NAME)
    return _asset(path.read_bytes(), _asset(chunk.read_bytes()) if chunk.is_file() else None)


def _asset(body: bytes, ui_chunk: WidgetAsset | None = None) -> WidgetAsset:
    return WidgetAsset(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        version=hashlib.sha256(body).hexdigest()[:12],
        ui_chunk=ui_chunk,
    )
