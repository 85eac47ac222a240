"""The cloud's own account: the user host agents sign in as to fetch and upload images, and its role.

It lives in ``common`` because several layers name it: bootstrap creates it, the compute agent signs in with it,
the API's policy knows its role, and the portal refuses to disable it (every host would stop fetching images).
"""

SERVICE_USER = "stratus-service"
SERVICE_PROJECT = "service"
HOST_ROLE = "host"
"""The only role of the service account. Never admin: a host that is broken into must not own the cloud. On a
request signed with one host's key (``common.hostauth``) it lets that host read the image of a server it is
building, rebuilding or resizing right now, and upload the data of a snapshot it is taking (``api.image.access``,
``api.policy``); nothing else in any API, and nothing of what other hosts are doing."""
