"""An instance's interactive console: a page with a terminal on the serial console (xterm.js) and the graphical
console (the console proxy's noVNC page, framed).

The page holds no console URL: a URL's token works once and expires, so the page's script asks for a fresh one
(``POST .../remote-console/<kind>``, with the CSRF header) each time it connects, and the portal asks the compute
API for it as the signed-in user, who must be allowed to see the server. The browser then talks to the console
proxy directly; the proxy accepts the portal's Origin. The page's Content-Security-Policy lets it reach the proxy
(websocket and frame) and nothing else more than other pages.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, abort, jsonify

from portal.blueprint import api, bp, render, settings, signed_in
from portal.errors import ApiError

KINDS = {"serial": ("serial", "serial"), "vnc": ("vnc", "novnc")}
"""The page's console kinds → the compute API's (protocol, type)."""
MICROVERSION = {"OpenStack-API-Version": "compute 2.6"}


def proxy_origins() -> tuple[str, str]:
    """(websocket origin, web page origin) of the console proxy as browsers reach it: where consoles connect and
    where the noVNC page is framed from. The same base URL the compute API puts in console URLs."""
    config = settings()
    base = config.console_public_url.strip() or f"ws://{config.console_proxy_host}:{config.console_proxy_port}"
    parts = urlsplit(base)
    secure = parts.scheme in ("wss", "https")
    return f"{'wss' if secure else 'ws'}://{parts.netloc}", f"{'https' if secure else 'http'}://{parts.netloc}"


def _policy() -> str:
    websocket, page = proxy_origins()
    # xterm.js writes its measured cell sizes and theme into <style> elements it creates: inline styles, on this
    # page only. Scripts stay 'self'.
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"connect-src 'self' {websocket}; frame-src {page}; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )


@bp.get("/instances/<server_id>/remote-console")
@signed_in
def remote_console_page(server_id: str) -> Response:
    server = api().get(f"/compute/v2.1/servers/{server_id}")["server"]
    response = render("portal/instance_remote_console.html", title=f"Console of {server['name']}", server=server)
    response.headers["Content-Security-Policy"] = _policy()
    return response


@bp.post("/instances/<server_id>/remote-console/<kind>")
@signed_in
def remote_console_url(server_id: str, kind: str) -> tuple[Response, int]:
    """A fresh console URL as JSON ``{"url"}``, or the API's refusal ``{"message"}`` with its status."""
    if kind not in KINDS:
        abort(404)
    protocol, console_type = KINDS[kind]
    body = {"remote_console": {"protocol": protocol, "type": console_type}}
    try:
        answer = api().request(
            "POST", f"/compute/v2.1/servers/{server_id}/remote-consoles", body=body, headers=MICROVERSION
        )
    except ApiError as exc:
        return jsonify({"message": exc.message}), exc.status
    return jsonify({"url": answer.json()["remote_console"]["url"]}), 200
