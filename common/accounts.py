"""The cloud's own account: the user host agents sign in as to fetch and upload images.

It lives in ``common`` because three layers name it: bootstrap creates it, the compute agent signs in with it,
and the portal refuses to disable it (every host would stop fetching images).
"""

SERVICE_USER = "stratus-service"
SERVICE_PROJECT = "service"
