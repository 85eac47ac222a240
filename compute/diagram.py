"""The server state diagram, drawn from the table (``compute.states``) so the docs cannot drift from the code.

Regenerate the page after changing the table::

    python -m compute.diagram > docs/compute-states.md

``tests/unit/compute/test_diagram.py`` fails when the page differs from what the table draws.
"""

from __future__ import annotations

from collections import defaultdict

from compute.states import STUCK_RULES, TRANSITIONS, HostCondition, StuckRule, TaskState, Transition, VmState

COMMAND = "python -m compute.diagram > docs/compute-states.md"


def _edges(transition: Transition) -> list[tuple[VmState, VmState, str]]:
    """(from, to, label) of one row: to each success state, and to the failure state when it has one."""
    if transition.task_state is None:
        return []  # it starts no task and changes no state (console output)
    name = transition.action.value
    found = []
    for start in sorted(transition.starts_from, key=list(VmState).index):
        for end in transition.on_success or (start,):
            found.append((start, end, name))
        if transition.on_failure is not None:
            found.append((start, transition.on_failure, f"{name} fails"))
    return found


def mermaid() -> str:
    """``stateDiagram-v2`` text: one arrow per pair of states, labelled with every action that takes it."""
    labels: dict[tuple[VmState, VmState], list[str]] = defaultdict(list)
    for transition in TRANSITIONS.values():
        for start, end, label in _edges(transition):
            labels[(start, end)].append(label)
    lines = ["stateDiagram-v2", f"    [*] --> {VmState.BUILDING.name} : create"]
    order = list(VmState).index
    for (start, end), names in sorted(labels.items(), key=lambda item: (order(item[0][0]), order(item[0][1]))):
        lines.append(f"    {start.name} --> {end.name} : {', '.join(names)}")
    lines.append(f"    {VmState.DELETED.name} --> [*]")
    return "\n".join(lines)


def _rule(rule: StuckRule) -> str:
    window = []
    if rule.after is not None:
        window.append(f"after {rule.after.value}")
    if rule.until is not None:
        window.append(f"until {rule.until.value}")
    conditions = [*window, rule.host.value if rule.host is not HostCondition.ANY else ""]
    if rule.vm_state is not None:
        conditions.append(f"vm_state {rule.vm_state.value}")
    when = ", ".join(c for c in conditions if c) or "at once"
    return f"{rule.remedy.value} ({when})"


def task_table() -> str:
    """Markdown: each task state, the action that holds it, and its stuck rules in the order they are tried."""
    held_by: dict[TaskState, list[str]] = {}
    for transition in TRANSITIONS.values():
        for task in transition.task_states:
            held_by.setdefault(task, []).append(transition.action.value)
    rows = ["| task state | held by | when stuck (first match wins) |", "|---|---|---|"]
    for task in TaskState:
        rules = "; ".join(_rule(rule) for rule in STUCK_RULES[task])
        rows.append(f"| `{task.value}` | {', '.join(held_by.get(task, []))} | {rules} |")
    return "\n".join(rows)


def page() -> str:
    """The whole of ``docs/compute-states.md``."""
    return "\n".join(
        [
            "# Server states",
            "",
            f"Generated from `compute/states.py` by `{COMMAND}`; do not edit by hand.",
            "",
            "Arrows are the actions of `TRANSITIONS` (an action that leaves the state as it was loops).",
            "Any action whose guest is gone when it fails ends in ERROR; a delete may start in every state,",
            "during any task.",
            "",
            "```mermaid",
            mermaid(),
            "```",
            "",
            "## Tasks in flight, and what the sweeper does when one is stuck",
            "",
            task_table(),
            "",
        ]
    )


if __name__ == "__main__":
    print(page(), end="")
