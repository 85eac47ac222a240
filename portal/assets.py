"""The portal's static files: our CSS and JS, and htmx and xterm.js vendored from the npm registry at install time.

``deploy/install-deps.sh`` runs ``npm ci`` in ``portal/assets`` (``package.json`` + ``package-lock.json``
are committed, ``node_modules`` is not). Files are read once, gzipped once, and served under a URL that holds
their content hash, so browsers cache them for a year and a new version is a new URL. Without htmx (npm not
run) every page still works: forms post and pages reload; only live updates and upload progress need JS.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import Response, abort, request, url_for

from portal.blueprint import bp
from portal.compress import accepts_gzip

LOG = logging.getLogger(__name__)
ASSET_DIR = Path(__file__).parent / "assets"
FILES = {
    "portal.css": (ASSET_DIR / "portal.css", "text/css"),
    "portal.js": (ASSET_DIR / "portal.js", "application/javascript"),
    "htmx.min.js": (ASSET_DIR / "node_modules" / "htmx.org" / "dist" / "htmx.min.js", "application/javascript"),
    # the Console page: xterm.js on the serial console (its UMD build defines the global Terminal)
    "console.js": (ASSET_DIR / "console.js", "application/javascript"),
    "xterm.js": (ASSET_DIR / "node_modules" / "@xterm" / "xterm" / "lib" / "xterm.js", "application/javascript"),
    "xterm.css": (ASSET_DIR / "node_modules" / "@xterm" / "xterm" / "css" / "xterm.css", "text/css"),
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    mimetype: str
    version: str


@cache
def load(name: str) -> Asset | None:
    path, mimetype = FILES[name]
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        LOG.warning("portal asset %s is missing (run deploy/install-deps.sh)", path)
        return None
    return Asset(body, gzip.compress(body, 9, mtime=0), mimetype, hashlib.sha256(body).hexdigest()[:12])


def asset_url(name: str) -> str | None:
    """The cache-busting URL of an asset, or None when it is not installed (the template leaves it out)."""
    asset = load(name)
    return None if asset is None else url_for("portal.asset", version=asset.version, name=name)


@bp.get("/assets/<version>/<name>")
def asset(version: str, name: str) -> Response:
    found = load(name) if name in FILES else None
    if found is None:
        abort(404)
    zipped = accepts_gzip(request)
    response = Response(found.gzipped if zipped else found.body, mimetype=found.mimetype)
    if zipped:
        response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@bp.context_processor
def _asset_urls() -> dict[str, object]:
    return {"asset_url": asset_url}
