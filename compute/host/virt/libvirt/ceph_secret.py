"""The cephx key of the cloud's Ceph user as a libvirt secret on this host, so QEMU opens RBD volumes with it.

Volumes' ``connection_info`` names only the user and the secret's uuid (``ceph_secret_uuid``, Nova's
``rbd_secret_uuid``); the key itself reaches libvirt here, read from the keyring file on the host
(``ceph_keyring``), never through a queue. The secret is private (libvirt never hands its value back) and
persistent; its usage name carries the uuid, so two clouds on one machine (tests) never claim the same usage.
``CephSecret.define`` is idempotent: it defines the secret when it is missing and sets its value every time (a
rotated key takes effect at the next agent start).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import uuid as uuidlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import libvirt

from common import ceph_files
from common.settings import HostSettings
from compute.host.virt.base import DriverError

LOG = logging.getLogger(__name__)

_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def read_key(keyring: Path, user: str) -> bytes:
    """The secret of ``client.<user>`` in a Ceph keyring file (the base64 text after ``key =``), decoded."""
    try:
        text = keyring.read_text()
    except OSError:
        raise DriverError(reason=f"the keyring of the Ceph user {user} cannot be read on this host") from None
    key = ceph_files.keyring_key(text, user)
    try:
        if key is not None:
            return base64.b64decode(key, validate=True)
    except binascii.Error:
        pass
    raise DriverError(reason=f"the keyring file holds no key of the Ceph user {user}")


def secret_xml(secret_uuid: str, user: str) -> str:
    secret = ET.Element("secret", ephemeral="no", private="yes")
    ET.SubElement(secret, "uuid").text = secret_uuid
    ET.SubElement(secret, "description").text = f"cephx key of client.{user} (Stratus)"
    usage = ET.SubElement(secret, "usage", type="ceph")
    ET.SubElement(usage, "name").text = f"client.{user} {secret_uuid}"
    return ET.tostring(secret, encoding="unicode")


@dataclass(frozen=True)
class CephSecret:
    """The secret this host holds: its uuid, the cephx user and the keyring its key is read from."""

    uuid: str
    user: str
    keyring: Path

    def __post_init__(self) -> None:
        try:
            canonical = str(uuidlib.UUID(self.uuid))
        except ValueError:
            raise DriverError(reason="ceph_secret_uuid is not a uuid") from None
        if canonical != self.uuid:
            raise DriverError(reason="ceph_secret_uuid must be a lower-case hyphenated uuid")
        if not _USER.match(self.user):
            raise DriverError(reason="ceph_user is not a valid Ceph user name")

    @classmethod
    def from_settings(cls, settings: HostSettings) -> CephSecret | None:
        """None when ``ceph_secret_uuid`` is not set: this host plugs no Ceph volume. Does no I/O."""
        if not settings.ceph_secret_uuid:
            return None
        return cls(settings.ceph_secret_uuid, settings.ceph_user, settings.effective_ceph_keyring)

    def define(self, connection: libvirt.virConnect) -> None:
        """Define the secret if missing and set its value to the keyring's key. DriverError when the key cannot be
        read or libvirt refuses; the message names neither the key nor the keyring's path."""
        key = read_key(self.keyring, self.user)
        try:
            try:
                secret = connection.secretLookupByUUIDString(self.uuid)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_SECRET:
                    raise
                secret = connection.secretDefineXML(secret_xml(self.uuid, self.user))
            secret.setValue(key)
        except libvirt.libvirtError as exc:
            reason = f"libvirt refused the Ceph secret {self.uuid}: {exc.get_error_message()}"
            raise DriverError(reason=reason) from None


def ensure(connection: libvirt.virConnect, secret: CephSecret | None) -> None:
    """At the agent's start: define ``secret`` (nothing when None). A failure is logged, not raised: the host still
    runs guests without Ceph volumes, and attaching one fails with QEMU's authentication error until it is fixed."""
    if secret is None:
        return
    try:
        secret.define(connection)
    except DriverError as exc:
        LOG.error("Ceph volumes cannot be attached on this host: %s", exc.message)
    else:
        LOG.info("libvirt secret %s holds the key of client.%s", secret.uuid, secret.user)
