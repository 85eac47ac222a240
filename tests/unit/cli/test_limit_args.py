"""``quota set``'s limits are parsed without a declared option per resource (the resources are the cloud's):
each ``--name`` takes one limit, the one word left is the project wherever it stands, and a name the cloud
does not limit is Click's own "No such option", with a suggestion for a near miss."""

from __future__ import annotations

import click
import pytest

from cli.limit_args import resolve_options, split_assignment, split_options
from cli.resources import Resource, Resources

CLOUD = Resources(
    [
        Resource("port", "network", "Ports", "ports", "project", "project"),
        Resource("key_pairs", "compute", "Key pairs", "key pairs of each user", "user", "user"),
    ]
)


def test_the_project_may_stand_anywhere_and_each_option_takes_one_limit():
    assert split_options(["--port", "5", "p1", "--key-pairs=-1"]) == (["p1"], {"--port": 5, "--key-pairs": -1})
    assert split_options(["p1", "--port", "-1"]) == (["p1"], {"--port": -1})


def test_a_value_that_is_not_a_limit_is_a_usage_error():
    with pytest.raises(click.BadParameter, match="-5 is not a limit"):
        split_options(["p1", "--port", "-5"])
    with pytest.raises(click.BadParameter, match="'many' is not an integer"):
        split_options(["p1", "--port=many"])
    with pytest.raises(click.BadOptionUsage, match="requires a limit"):
        split_options(["p1", "--port"])


def test_options_are_resolved_against_the_clouds_resources():
    assert resolve_options({"--port": 5, "--key-pairs": 2}, CLOUD) == {"port": 5, "key_pairs": 2}
    with pytest.raises(click.NoSuchOption) as refused:
        resolve_options({"--ports": 5}, CLOUD)
    assert refused.value.format_message() == "No such option '--ports'. Did you mean '--port'?"
    with pytest.raises(click.NoSuchOption):
        resolve_options({"--key_pairs": 5}, CLOUD)  # options are spelt with dashes only


def test_an_assignment_is_name_equals_limit():
    assert split_assignment(" key-pairs = 3") == ("key-pairs", 3)
    with pytest.raises(click.BadParameter, match="is not RESOURCE=LIMIT"):
        split_assignment("ports")
