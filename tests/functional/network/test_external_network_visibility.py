"""An external network is every project's to see, with its subnets (Neutron's subnet-external-network: each
subnet says ``router:external`` and can be filtered on it); a private network's subnets stay its project's."""

from __future__ import annotations

import pytest

from tests.functional.network import get, network, subnet

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def test_external_network_and_its_subnets_are_visible_to_every_reader(cloud, tokens, unique):
    public = network(cloud, tokens.admin, unique, **{"router:external": True})
    public_subnet = subnet(cloud, tokens.admin, public["id"], "172.31.77.0/24", enable_dhcp=False)
    assert public_subnet["router:external"] is True
    private = network(cloud, tokens.admin, unique + "-private")
    subnet(cloud, tokens.admin, private["id"], "10.77.0.0/24")

    listed = get(cloud, tokens.reader, "/networks?router:external=True")["networks"]
    assert public["id"] in {n["id"] for n in listed} and all(n["router:external"] for n in listed)
    (seen,) = get(cloud, tokens.reader, f"/subnets?network_id={public['id']}")["subnets"]
    assert seen["id"] == public_subnet["id"] and seen["router:external"] is True
    assert get(cloud, tokens.other, f"/subnets/{public_subnet['id']}")["subnet"]["router:external"] is True
    assert get(cloud, tokens.reader, f"/subnets?network_id={private['id']}")["subnets"] == []

    external = get(cloud, tokens.admin, "/subnets?router:external=true")["subnets"]
    assert public_subnet["id"] in {s["id"] for s in external} and all(s["router:external"] for s in external)
    internal = get(cloud, tokens.admin, f"/subnets?router:external=false&network_id={private['id']}")["subnets"]
    assert [s["router:external"] for s in internal] == [False]
    aliases = {e["alias"] for e in get(cloud, tokens.reader, "/extensions")["extensions"]}
    assert "subnet-external-network" in aliases
