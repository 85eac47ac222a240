"""The host's physical networks and external address come from the settings checked: a malformed mapping or
address is a clear ConfigError naming its setting when the agent starts, never a bridge with a strange name."""

from __future__ import annotations

import pytest

from common.exceptions import ConfigError
from common.settings import Settings
from network.host.dataplane import underlay_for
from network.host.dataplane.base import HostUnderlay


def test_the_physical_bridges_and_the_external_address_reach_the_underlay():
    underlay = underlay_for(
        Settings(
            network_dataplane="fake",
            network_physical_bridges="public:br-ex, lab:br-lab",
            network_external_host_address="198.51.100.1/24",
        )
    )
    assert underlay.physical_bridges == (("public", "br-ex"), ("lab", "br-lab"))
    assert underlay.external_host_address == "198.51.100.1/24"
    assert HostUnderlay.from_dict(underlay.to_dict()) == underlay  # as recorded for retire, lists and all


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("network_physical_bridges", "public"),
        ("network_physical_bridges", "public:br ex"),
        ("network_physical_bridges", "public:br-ex;reboot"),
        ("network_physical_bridges", "public:a-bridge-name-too-long"),
        ("network_physical_bridges", "public:a,public:b"),
        ("network_physical_bridges", "public:-br"),
        ("network_external_host_address", "198.51.100.1"),
        ("network_external_host_address", "198.51.100.1/24 dev lo"),
        ("network_external_host_address", "198.51.100.1/33"),
    ],
)
def test_a_malformed_setting_is_a_config_error_naming_it(setting, value):
    with pytest.raises(ConfigError) as raised:
        underlay_for(Settings(network_dataplane="fake", **{setting: value}))
    assert setting in str(raised.value)
