"""The image service (``stratus-image``) and the image API's workflows: store, upload, import, variants.

Run by the image worker (``image.worker``, whose tasks share one :class:`image.context.ImageWorker`) and imported by
the API in-process, only through :mod:`image.service` (its public in-process interface), the client, states, models
and store. It may import ``common`` and ``quota``, never ``api``, ``manage``, ``cli`` or another service's
internals. Compute hosts import only :mod:`image.client` (to ask for work), :mod:`image.inspector` with
:mod:`image.formats`, and :mod:`image.qemu_img` (the one runner of ``qemu-img`` on tenant data, and the only module
of this package that runs commands); those import nothing of the service's control side (an import-linter contract
says so).
"""
