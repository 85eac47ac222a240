"""Benchmarks: scripts that measure the cloud and print figures; they are not tests and do not pass or fail."""
