"""The volume service (Cinder's part): volumes, snapshots, attachments and backups on pluggable backends.

The API reaches it through ``volume.service`` (records, in the request's transaction) and ``volume.client``
(work for ``stratus-volume`` on the ``volume`` queue); the worker (``volume.worker``) runs the backends.
"""
