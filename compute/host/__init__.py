"""``stratus-compute``: the compute agent on each host (``agent``: its Celery tasks; ``context``: the one
``ComputeAgent`` its handlers share; ``work``: the handlers; ``imagecache``: the host's base images; ``virt/``: the
hypervisor drivers).

Run only by the host agent process, never by the API or the control side. It holds no database access: it loads
``common.settings.HostSettings`` (no database field), gets what it needs in signed tasks and reports back on the
control queues. It may import ``common`` (but not ``common.db``), ``compute.client`` and ``compute.states``, and of
``image`` only the client, the format inspector and the ``qemu-img`` runner; import-linter contracts hold this.
"""
