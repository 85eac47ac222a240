"""Inspection reads a bounded number of header bytes and never runs another program."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

import image.formats
from image import inspector
from image.formats.base import READ_BUDGET, Reader
from image.inspector import InspectionError, detect, inspect
from tests.unit.image.conftest import Samples
from tests.unit.image.inspector import GIB, MIB, CountingOpener


@pytest.mark.parametrize("sample", ["raw", "qcow2-v3", "vmdk-stream-optimized", "vhd-fixed", "vhdx"])
def test_inspection_reads_only_headers(samples: Samples, sample):
    opener = CountingOpener()
    detect(samples.path(sample), opener=opener)
    assert opener.bytes_read < 300 * 1024


def test_inspection_of_a_large_sparse_raw_file_reads_a_few_kib(tmp_path):
    path = tmp_path / "big.img"
    with path.open("wb") as file:
        file.truncate(64 * MIB)
    opener = CountingOpener()
    assert inspect(path, "raw", opener=opener).virtual_size == 64 * MIB
    assert opener.bytes_read < 16 * 1024


def test_largest_qcow2_header_cluster_stays_within_the_read_budget(samples: Samples):
    opener = CountingOpener()
    assert inspect(samples.path("qcow2-2m-clusters"), "qcow2", opener=opener).virtual_size == GIB
    assert MIB < opener.bytes_read < READ_BUDGET  # the whole 2 MiB extension area, and no more


def test_reader_refuses_to_read_past_its_budget():
    reader = Reader(io.BytesIO(bytes(100)), budget=60)
    assert reader.read(0, 50) == bytes(50)
    assert reader.read(200, 50) == b""  # past the end costs nothing
    with pytest.raises(InspectionError, match="too large to inspect"):
        reader.read(0, 50)


def test_inspector_never_runs_other_programs():
    sources = [Path(inspector.__file__), *Path(image.formats.__file__).parent.glob("*.py")]
    assert len(sources) > 2
    for source in sources:
        tree = ast.parse(source.read_text(), str(source))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name.split(".")[0] for name in imported} & {"subprocess", "pty", "multiprocessing"}, source
        called = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not called & {"system", "popen", "execv", "execve", "execvp", "spawnv", "posix_spawn"}, source
