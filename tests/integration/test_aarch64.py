"""aarch64 from this x86_64 machine: an arm64 root's CPython run by qemu-user through
binfmt_misc, the extension cross-compiled by the pinned zig, repaired to
manylinux2014_aarch64 and tested under emulation; the same bytes from another farm."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from builder.pipeline.elfcheck import elf_members, glibc_needed, machine_traces
from builder.pipeline.emulation import emulator, why_not
from tests.integration.farmcopy import make_farm

pytestmark = [pytest.mark.network, pytest.mark.slow]
ARM = "linux-aarch64-cp313"


def test_an_aarch64_wheel_is_cross_compiled_and_tested_under_qemu(
    tmp_path: Path, sdist_cache: Path
) -> None:
    # Not skipped where qemu is missing: CI installs it, and a farm that cannot build
    # aarch64 must not pass as one that can.
    assert emulator("aarch64") is not None, why_not("aarch64")
    first = make_farm(tmp_path / "a", ["markupsafe"], cache=sdist_cache)
    second = make_farm(tmp_path / "elsewhere" / "b", ["markupsafe"], cache=sdist_cache)
    other = second.start_build("--platform", ARM)
    assert first.build("--platform", ARM) == 0
    assert other.wait() == 0
    assert first.wheels() == second.wheels()
    (record,) = [json.loads(p.read_text()) for p in (first.store / "records").glob("*.json")]
    assert record["wheel"].endswith("-cp313-cp313-manylinux2014_aarch64.manylinux_2_17_aarch64.whl")
    inputs = record["inputs"]
    assert inputs["toolchain"]["target"] == "aarch64-linux-gnu.2.17"
    assert "on roots/sid-pythons-arm64.toml" in inputs["interpreter"]
    assert " under qemu-aarch64 version " in inputs["interpreter"]
    # The recipe's checks ran in the arm64 interpreter: the compiled module imported.
    assert any("markupsafe._speedups" in t for t in record["tests"]), record["tests"]
    wheel = first.store / "blobs" / record["wheel_sha256"]
    members = elf_members(wheel)
    assert members
    for data in members.values():
        assert ELFFile(io.BytesIO(data)).get_machine_arch() == "AArch64"
    assert glibc_needed(wheel) <= (2, 17)
    assert machine_traces(wheel, [str(first.build_root), str(sdist_cache)]) == []
    with zipfile.ZipFile(wheel) as archive:
        assert any(n.endswith("aarch64-linux-gnu.so") for n in archive.namelist())
