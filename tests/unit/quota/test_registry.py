"""Every registered resource has a counter that exists and counts it (or is a per-item limit), and the
defaults are Nova's, Neutron's and Cinder's."""

from __future__ import annotations

import pytest

from quota import registry
from quota.registry import Scope


def test_every_counter_imports_and_answers_for_its_resources(db):
    with db.session() as session:
        for path, names in registry.counters_for(r.name for r in registry.RESOURCES).items():
            counted = registry.counter(path)(session, "p1", "u1")
            assert set(names) <= set(counted), path


def test_only_per_item_limits_have_no_counter():
    assert {r.name for r in registry.RESOURCES if r.counter is None} == {"metadata_items", "server_group_members"}
    assert all(r.scope is Scope.ITEM for r in registry.RESOURCES if r.counter is None)


def test_the_defaults_are_novas_neutrons_and_cinders():
    defaults = {r.name: r.default for r in registry.RESOURCES}
    assert defaults == {
        "instances": 10, "cores": 20, "ram": 51200, "key_pairs": 100, "server_groups": 10,
        "server_group_members": 10, "metadata_items": 128, "network": 100, "subnet": 100, "port": 500, "router": 10,
        "floatingip": 50,
        "security_group": 10, "security_group_rule": 100, "image_count_total": "image_quota_count",
        "image_size_total": "image_quota_bytes", "volumes": 10, "gigabytes": 1000, "snapshots": 10, "backups": 10,
        "backup_gigabytes": 1000,
    }  # fmt: skip


def test_an_unknown_resource_is_a_programming_error():
    with pytest.raises(LookupError):
        registry.resource("gpus")


def test_each_resource_says_what_one_limit_applies_to():
    """Clients show ``per`` beside each limit; a per-item limit must name its item, or they would print ``item``."""
    per = {r.name: r.per for r in registry.RESOURCES if r.scope is not Scope.PROJECT}
    assert per == {"key_pairs": "user", "server_group_members": "server group", "metadata_items": "server"}


def test_labels_tell_the_resources_apart():
    """The portal labels each limit's field with its label: two alike would be one field to a screen reader."""
    assert len({r.label.lower() for r in registry.RESOURCES}) == len(registry.RESOURCES)
