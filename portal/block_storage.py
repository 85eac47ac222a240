"""The Block Storage API (Cinder v3, ``/volume/v3``) as the portal calls it: through the user's ``ApiClient``,
at one pinned microversion, so the shapes the pages read do not move under them.

Why 3.67: it is the version whose URLs need no project id (the paths here have none); it also lets an attached
volume be extended (3.42) and snapshotted without ``force`` (3.66), which the Volumes page offers, and a volume
be made from a backup (3.47).
"""

from __future__ import annotations

from typing import Any

from portal.client import ApiClient, ApiResponse

PREFIX = "/volume/v3"
VERSION = "3.67"
HEADERS = {"OpenStack-API-Version": f"volume {VERSION}"}


class BlockStorage:
    """One user's calls to the Block Storage API; ``path`` is below ``/volume/v3`` (``/volumes/detail``)."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client

    def get(self, path: str, **query: Any) -> Any:
        return self._client.request("GET", PREFIX + path, query=query, headers=HEADERS).json()

    def post(self, path: str, body: Any = None) -> ApiResponse:
        return self._client.request("POST", PREFIX + path, body=body, headers=HEADERS)

    def delete(self, path: str) -> ApiResponse:
        return self._client.request("DELETE", PREFIX + path, headers=HEADERS)
