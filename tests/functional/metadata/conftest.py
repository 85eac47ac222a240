"""The metadata tests boot servers on the compute tests' image."""

from tests.functional.compute.conftest import server_image  # noqa: F401 - a fixture, by name
