"""A Rust extension on the pinned toolchain: rustc and cargo from the Rust project's
dist server by sha256, the crates of the sdist's Cargo.lock fetched by checksum before
a build with no network, the pinned zig linking for glibc 2.17."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from builder.cli import main
from builder.pipeline.elfcheck import elf_members, glibc_needed, machine_traces
from tests.integration.farmcopy import NATIVE, make_farm

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_rpds_py_builds_with_the_pinned_rust_the_same_from_another_build_root(
    tmp_path: Path, sdist_cache: Path
) -> None:
    first = make_farm(tmp_path / "a", ["rpds-py"], cache=sdist_cache)
    second = make_farm(tmp_path / "elsewhere" / "b", ["rpds-py"], cache=sdist_cache)
    other = second.start_build("--platform", NATIVE)
    assert first.build("--platform", NATIVE) == 0
    assert other.wait() == 0

    (record_path,) = (first.store / "records").glob("*.json")
    record = json.loads(record_path.read_text())
    assert "manylinux_2_17_x86_64" in record["wheel"]
    toolchain = record["inputs"]["toolchain"]
    assert toolchain["rust-target"] == "x86_64-unknown-linux-gnu"
    assert {len(toolchain[k]) for k in ("rustc-sha256", "cargo-sha256", "rust-std-sha256")} == {64}
    wheel = first.store / "blobs" / record["wheel_sha256"]
    (other_record,) = (second.store / "records").glob("*.json")
    other_wheel = second.store / "blobs" / json.loads(other_record.read_text())["wheel_sha256"]
    # The same bytes from another build root: rustc remaps every path of the job in the
    # code, and the farm the same paths in maturin's SBOM (PEP 770), which names them.
    assert wheel.read_bytes() == other_wheel.read_bytes()
    with zipfile.ZipFile(wheel) as archive:
        (sbom,) = (n for n in archive.namelist() if "/sboms/" in n)
        assert b"path+file:///src/rpds_py-2026.9.1#rpds-py@" in archive.read(sbom)

    (so,) = elf_members(wheel).values()
    comment = ELFFile(io.BytesIO(so)).get_section_by_name(".comment")
    assert comment is not None
    text = comment.data().decode(errors="replace")
    assert "rustc version 1.95.0" in text and "Linker: LLD" in text  # zig's lld linked it
    assert (2, 2) <= glibc_needed(wheel) <= (2, 17)
    home = os.environ.get("HOME", "/root")
    paths = [str(first.build_root), str(second.build_root), str(sdist_cache), home]
    assert machine_traces(wheel, paths) == []
    # Each crate of the lock is in the cache, by name and version, checked by sha256.
    assert any((sdist_cache / "crates").glob("*/pyo3-0.*.crate"))
    log = (first.store / "logs" / NATIVE / "rpds-py.log").read_text()
    assert "Compiling pyo3" in log and "Downloading" not in log  # vendored, offline

    # The tree alone rebuilds it: the crates travel under _sources/_farm/crates/.
    out = tmp_path / "public"
    assert main(["--root", str(first.root), "assemble", "--store", str(first.store), "--cache",
                 str(sdist_cache), "--out", str(out), "--platform", NATIVE]) == 0  # fmt: skip
    crates = out / "tree" / "_sources" / "_farm" / "crates"
    assert list(crates.glob("*/pyo3-0.*.crate")) and list(crates.glob("*/rpds-1.*.crate"))
    assert main(["verify", str(out / "tree"), "--out", str(tmp_path / "verify")]) == 0
    report = json.loads((tmp_path / "verify" / "report.json").read_text())
    verdicts = {(r["project"], r["platform"]): r["verdict"] for r in report["rows"]}
    assert verdicts == {("rpds-py", NATIVE): "reproduced"}
