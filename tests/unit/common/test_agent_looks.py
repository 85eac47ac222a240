"""An agent process looks at every host it serves in one periodic task, on a served host's own queue: one task per
look whether it serves one host or fifty simulated ones (at 1,000 hosts, a beat entry per host cost 0.7 cores)."""

from __future__ import annotations

from common.agents import look_schedule
from common.queue import host_queue


def test_one_entry_per_process_names_every_served_host() -> None:
    schedule = look_schedule("compute", "agent.look", 10.0, ["h-1", "h-2", "h-3"])
    assert schedule == {
        "agent.look": {
            "task": "agent.look",
            "schedule": 10.0,
            "args": [["h-1", "h-2", "h-3"]],
            "kwargs": {},
            "options": {"queue": host_queue("compute", "h-1")},
        }
    }


def test_a_real_host_looks_at_itself_and_a_process_serving_none_has_no_entry() -> None:
    assert look_schedule("network", "netagent.resync", 30.0, ["h"])["netagent.resync"]["args"] == [["h"]]
    assert look_schedule("network", "netagent.resync", 30.0, []) == {}
