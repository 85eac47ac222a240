"""The web pages of the proxy: the noVNC page a ``novnc`` console URL opens, and the noVNC library it imports.

Only files that exist under two directories are served, found by exact relative path: our page
(``console/static``) and the noVNC ES modules the portal's npm step installs (``@novnc/novnc``'s ``core`` and
``vendor``, under ``/novnc/``). No directory listing, no path outside them, only the file types the page needs.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
NOVNC_DIR = Path(__file__).parent.parent / "portal" / "assets" / "node_modules" / "@novnc" / "novnc"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
PAGES = {"/vnc.html": STATIC_DIR / "vnc.html", "/vnc.js": STATIC_DIR / "vnc.js"}


@dataclass(frozen=True)
class Page:
    body: bytes
    content_type: str


def find(path: str) -> Page | None:
    """The file a GET of ``path`` (query already removed) serves, or None (404)."""
    if path in PAGES:
        file = PAGES[path]
    elif path.startswith(("/novnc/core/", "/novnc/vendor/")):
        relative = posixpath.normpath(path.removeprefix("/novnc/"))
        if relative.startswith(("..", "/")) or "\\" in relative or "\0" in relative:
            return None
        file = NOVNC_DIR / relative
        try:
            if not file.resolve().is_relative_to(NOVNC_DIR.resolve()):
                return None
        except OSError:
            return None
    else:
        return None
    content_type = TYPES.get(file.suffix)
    if content_type is None or not file.is_file():
        return None
    return Page(file.read_bytes(), content_type)
