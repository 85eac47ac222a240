"""The volume service (Cinder's part): volumes, snapshots, attachments and backups on pluggable backends.

Who imports what:

- the API and the compute control side: :mod:`volume.service` (records, in the request's own transaction),
  :mod:`volume.types` (volume types and their extra specs and access), :mod:`volume.client` (work for
  ``stratus-volume`` on the ``volume`` queue, sent after commit), :mod:`volume.states`, :mod:`volume.models` and
  :mod:`volume.exceptions`. Never the workflows or the worker below.
- ``stratus-volume`` (:mod:`volume.worker`, tasks in :mod:`volume.tasks`, sharing one :class:`volume.context.
  VolumeWorker`): one module per workflow, :mod:`~volume.creation`, :mod:`~volume.deletion`,
  :mod:`~volume.snapshots`, :mod:`~volume.extending`, :mod:`~volume.uploads`, and the safety net
  :mod:`~volume.sweeper`; they run the backends (:mod:`volume.backends`: ``base``, ``fake``, ``file``, ``rbd``).
- compute hosts import nothing of this package: what they need of a volume reaches them as Cinder's
  ``connection_info`` (:class:`volume.backends.base.Connection`).

Every status change goes through :mod:`volume.transitions` (the rows of ``volume.states.TRANSITIONS``); quotas are
counted by :mod:`volume.quota`. The package may import ``common``, ``quota`` and, of the image service, its
public interface (``image.service``, ``image.models``, ``image.states``, ``image.store``) and its qemu-img runner
(``image.qemu_img``, which the file backend runs ``qemu-img`` through); never ``api``, ``compute``, ``network``,
``manage``, ``cli`` or ``portal``.
"""
