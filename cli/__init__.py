"""``stratus``, the admin command line: it runs in the operator's own process, on any machine that can reach
the cloud's public endpoints, never inside the cloud.

It is a client like the ``openstack`` CLI: it authenticates with keystoneauth (``clouds.yaml`` or ``OS_*``
variables) and talks to the cloud only over HTTP, through the service catalog (``cli.client``). It may import
click, keystoneauth1 and the standard library, and nothing of the server: no ``api``, ``identity``,
``compute``, ``network``, ``image``, ``quota``, ``manage`` or ``common.db`` (an import-linter contract holds
this). What it needs to know about the cloud it asks the cloud: the quota resources it shows and sets are
the API's table (``GET /identity/v3/OS-STRATUS/quota_resources``, ``cli.resources``), not a copy.
"""
