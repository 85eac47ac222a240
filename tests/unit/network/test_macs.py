from __future__ import annotations

import random

import pytest

from network import macs
from network.exceptions import InvalidAttribute


def test_generated_macs_have_neutrons_prefix_and_are_unicast_and_locally_administered():
    rng = random.Random(7)
    generated = {macs.generate(rng) for _ in range(500)}
    assert len(generated) > 490  # random tails
    for mac in generated:
        assert mac.startswith("fa:16:3e:") and len(mac) == 17
        first = int(mac[:2], 16)
        assert first & 0x02 and not first & 0x01


@pytest.mark.parametrize(
    ("given", "stored"), [("FA:16:3E:00:11:22", "fa:16:3e:00:11:22"), ("02-00-00-aa-bb-cc", "02:00:00:aa:bb:cc")]
)
def test_requested_macs_are_normalised(given, stored):
    assert macs.normalise(given) == stored


@pytest.mark.parametrize(
    "bad", ["", "fa:16:3e:00:11", "fa:16:3e:00:11:2g", "fa:16-3e:00:11:22", "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff",
            "00:00:00:00:00:00"],
)  # fmt: skip
def test_malformed_multicast_broadcast_and_zero_macs_are_400s_naming_the_field(bad):
    with pytest.raises(InvalidAttribute, match="mac_address") as raised:
        macs.normalise(bad)
    assert raised.value.code == 400
