"""A guest's consoles in its domain XML: the serial port a raw TCP server and the display a VNC server, both on
the listen address only, with checked values; and the ports read back from what libvirt returns."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from compute.host.virt.libvirt import config

UUID = "6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10"
LOG = Path("/srv/stratus/instances/x/console.log")


def _domain(**changes: Any) -> config.DomainConfig:
    fields: dict[str, Any] = {
        "uuid": UUID,
        "display_name": "web-1",
        "virt_type": "qemu",
        "memory_mb": 256,
        "vcpus": 1,
        "console_log": LOG,
        "serial_port": 10042,
    }
    return config.DomainConfig(**{**fields, **changes})


def test_the_serial_port_is_a_raw_tcp_server_on_the_loopback_that_still_logs() -> None:
    root = ET.fromstring(config.domain_xml(_domain()))
    serial = root.find("./devices/serial")
    assert serial is not None and serial.get("type") == "tcp"
    source = serial.find("source")
    assert source is not None
    assert source.attrib == {"mode": "bind", "host": "127.0.0.1", "service": "10042", "tls": "no"}
    assert serial.find("protocol").get("type") == "raw"  # no telnet negotiation bytes in the stream
    assert serial.find("log").attrib == {"file": str(LOG), "append": "on"}


def test_the_display_is_vnc_on_the_listen_address_with_a_port_libvirt_picks() -> None:
    root = ET.fromstring(config.domain_xml(_domain(console_listen="::1")))
    graphics = root.find("./devices/graphics")
    assert graphics is not None
    assert graphics.attrib == {"type": "vnc", "autoport": "yes", "listen": "::1"}
    assert graphics.find("listen").attrib == {"type": "address", "address": "::1"}
    assert "port" not in graphics.attrib
    assert root.find("./devices/video/model").get("type") == "vga"


def test_without_a_serial_port_the_console_stays_a_pty() -> None:
    root = ET.fromstring(config.domain_xml(_domain(serial_port=None)))
    assert root.find("./devices/serial").get("type") == "pty"
    assert root.find("./devices/serial/source") is None


@pytest.mark.parametrize("port", [0, -1, 65536, True, "10042", 10042.0, "10042'/><evil"])
def test_a_serial_port_that_is_no_port_number_is_refused(port: Any) -> None:
    with pytest.raises(config.InvalidDomainValue, match="serial TCP port"):
        _domain(serial_port=port)


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1'/>", "", "fe80::1%eth0", "1.2.3.4 ", 2130706433, None])
def test_a_listen_address_that_is_no_ip_literal_is_refused(address: Any) -> None:
    with pytest.raises(config.InvalidDomainValue, match="listen address"):
        _domain(console_listen=address)


LIVE_XML = """<domain type='qemu' id='7'><devices>
  <serial type='tcp'><source mode='bind' host='127.0.0.1' service='10042' tls='no'/><protocol type='raw'/>
    <log file='/x/console.log' append='on'/><target type='isa-serial' port='0'/></serial>
  <console type='tcp'><source mode='bind' host='127.0.0.1' service='10042' tls='no'/></console>
  <graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/>
  </graphics></devices></domain>"""


def test_ports_and_addresses_are_read_back_from_the_live_xml() -> None:
    assert config.serial_tcp_port(LIVE_XML) == 10042
    assert config.vnc_port(LIVE_XML) == 5901
    assert config.console_listen(LIVE_XML, "serial") == "127.0.0.1"
    assert config.console_listen(LIVE_XML, "vnc") == "127.0.0.1"


def test_a_stopped_domain_has_no_vnc_port_and_a_pty_has_no_serial_port() -> None:
    stopped = LIVE_XML.replace("port='5901' ", "port='-1' ")
    assert config.vnc_port(stopped) is None
    pty = "<domain><devices><serial type='pty'><target port='0'/></serial></devices></domain>"
    assert config.serial_tcp_port(pty) is None
    assert config.console_listen(pty, "serial") is None
    assert config.vnc_port(pty) is None


def test_a_listen_address_that_is_not_an_ip_literal_is_not_believed() -> None:
    odd = LIVE_XML.replace("listen='127.0.0.1'", "listen='evil.example'")
    assert config.console_listen(odd, "vnc") is None
