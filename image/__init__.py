"""The image service (``stratus-image``) and the image API's workflows: store, upload, import, variants.

Run by the image worker and imported by the API. Compute hosts import only :mod:`image.client` (to ask for work),
:mod:`image.inspector` with :mod:`image.formats`, and :mod:`image.qemu_img` (the one runner of ``qemu-img`` on tenant
data); those import nothing of the service's control side (an import-linter contract says so).
"""
