"""``stratus-netagent``: the network agent on each host (``agent``: its Celery tasks on ``network.<host>``;
``context``: the one ``NetworkAgent`` its handlers share; ``work``: the handlers; ``dataplane/``: the drivers
that make the host's kernel networking match a desired state).

Run only by the host agent process (and the admin CLI's ``manage`` commands that tear a host's devices down),
never by the API or the control side. It holds no database access: it loads ``common.settings.HostSettings`` (no
database field), gets every state complete in its tasks (``network.wire``) and reports back on the control
queues. It may import ``common`` (but not ``common.db``) and of ``network``'s top level only what imports no
database code (``wire``, ``devicenames``, ``addresses``, ``client``); never ``network.control`` nor
``compute.control``. import-linter contracts hold this.
"""
