"""docs/compute-states.md is what the table draws: change compute/states.py, then regenerate the page with
``python -m compute.diagram > docs/compute-states.md``."""

from __future__ import annotations

from pathlib import Path

from compute import diagram
from compute.states import TRANSITIONS, VmState

PAGE = Path(__file__).resolve().parents[3] / "docs" / "compute-states.md"


def test_the_docs_page_is_what_the_table_draws():
    assert PAGE.read_text() == diagram.page(), f"the table changed: run `{diagram.COMMAND}`"


def test_the_diagram_draws_every_state_and_every_action_that_starts_a_task():
    text = diagram.mermaid()
    assert all(state.name in text for state in VmState)
    assert all(t.action.value in text for t in TRANSITIONS.values() if t.task_state is not None)
