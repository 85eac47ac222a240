"""The portal's pages for cloud administrators (``/admin/...``): projects and their members, users, quotas
per project, compute hosts and their drain. Every view is ``admin_only`` (anyone else gets 403 and no admin
menu) and does its work through the same APIs as the tenant pages, with the admin's token: what the API
refuses, these pages refuse too, with the API's message next to the field it is about.

Importing this package registers the pages on the portal blueprint (``portal.site`` does).
"""

from __future__ import annotations

from portal.admin import drain, hosts, members, projects, quota_page, users  # noqa: F401 - each registers its views
