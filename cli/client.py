"""How the ``stratus`` CLI talks to the cloud: JSON requests to each API found in the service catalog, and
the errors a script can tell apart by the exit code.

Every request goes through the keystoneauth session (the token, the catalog, re-authentication), to the
public endpoint of the service type; the CLI never reads the database.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session

if TYPE_CHECKING:
    import requests

# The catalog URLs of most services are unversioned; the path adds the version (compute and block storage carry it).
VERSION_PREFIX = {
    "identity": "/v3", "network": "/v2.0", "image": "/v2", "compute": "", "block-storage": "", "placement": ""
}  # fmt: skip
COMPUTE_VERSION = "compute 2.36"  # the quota set without Nova's network proxies


class Exit(IntEnum):
    """The exit codes of ``stratus``; scripts may rely on them."""

    OK = 0
    ERROR = 1
    """The cloud answered with an error (or could not be reached)."""
    USAGE = 2
    """A bad command line (Click's own code): an unknown option, a value that is not a limit."""
    NOT_FOUND = 3
    """The project named does not exist."""
    BELOW_USAGE = 4
    """A limit below what the project already holds, without ``--force``."""
    FORBIDDEN = 5
    """The credentials were refused (401) or lack the role (403)."""
    NEAR_LIMIT = 6
    """``usage --fail-at``: a resource is at or above the given percentage of its limit."""
    STAYED = 7
    """``host drain`` or ``rebalance``: a server could not be moved (or was still moving at the timeout)."""


class CliError(Exception):
    def __init__(self, message: str, code: Exit = Exit.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _message(body: Any, fallback: str) -> str:
    """The message of any of the four APIs' fault bodies."""
    if isinstance(body, dict):
        if "NeutronError" in body:
            return str(body["NeutronError"].get("message") or fallback)
        if "error" in body and isinstance(body["error"], dict):
            return str(body["error"].get("message") or fallback)
        if "message" in body:
            return str(body["message"])
        for value in body.values():  # Nova: {"badRequest": {"code", "message"}}
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
    return fallback


class Cloud:
    """One authenticated session and JSON calls to the cloud's APIs."""

    def __init__(self, session: ks_session.Session) -> None:
        self.session = session

    def call(
        self,
        method: str,
        service: str,
        path: str,
        body: Any = None,
        expect: tuple[int, ...] = (200,),
        version: str | None = None,
    ) -> Any:
        """One JSON request; ``version`` is a microversion for this call (``compute 2.59``, ``placement 1.0``)."""
        response = self.send(method, service, path, body, expect, version)
        return response.json() if response.content else None

    def send(
        self,
        method: str,
        service: str,
        path: str,
        body: Any = None,
        expect: tuple[int, ...] = (200,),
        version: str | None = None,
    ) -> requests.Response:
        """As ``call``, the response itself (its headers carry the request id an instance action is filed by)."""
        if service == "compute":
            version = version or COMPUTE_VERSION
        headers = {"OpenStack-API-Version": version} if version else {}
        try:
            response = self.session.request(
                VERSION_PREFIX[service] + path,
                method,
                endpoint_filter={"service_type": service, "interface": "public"},
                json=body,
                headers=headers,
                raise_exc=False,
            )
        except ks_exceptions.Unauthorized as exc:
            raise CliError(f"authentication failed: {exc}", Exit.FORBIDDEN) from None
        except ks_exceptions.ClientException as exc:
            raise CliError(f"cannot reach the {service} API: {exc}") from None
        if response.status_code in expect:
            return response
        try:
            detail = response.json()
        except ValueError:
            detail = None
        message = _message(detail, response.text.strip() or response.reason or "")
        code = {401: Exit.FORBIDDEN, 403: Exit.FORBIDDEN, 404: Exit.NOT_FOUND}.get(response.status_code, Exit.ERROR)
        if "already used" in message:
            code = Exit.BELOW_USAGE
        raise CliError(f"{service} API: {response.status_code} {message}", code)

    def has_service(self, service: str) -> bool:
        """Whether the catalog has a public endpoint of the service type (``placement`` is optional)."""
        try:
            return bool(self.session.get_endpoint(service_type=service, interface="public"))
        except ks_exceptions.EndpointNotFound:
            return False

    def get(self, service: str, path: str) -> Any:
        return self.call("GET", service, path)

    @property
    def project_id(self) -> str | None:
        return self.session.get_project_id()
