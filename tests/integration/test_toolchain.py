"""The pinned zig toolchain on a platform that names it: manylinux2014 wheels, the same
bytes from another build root and store, nothing of the build machine in any ELF file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from builder.cli import main
from builder.pipeline.elfcheck import elf_members, glibc_needed, machine_traces
from tests.integration.farmcopy import NATIVE, FarmCopy, make_farm

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _zig_farm(
    base: Path, cache: Path, recipes: tuple[str, ...] = ("markupsafe", "msgpack")
) -> FarmCopy:
    farm = make_farm(base, list(recipes), cache=cache)
    text = (farm.root / "platforms" / f"{NATIVE}.toml").read_text()
    assert 'toolchain = "zig"' in text and "manylinux_2_17_x86_64" in text
    return farm


def _records(farm: FarmCopy) -> dict[str, dict[str, object]]:
    return {
        r["project"]: r
        for r in (json.loads(p.read_text()) for p in (farm.store / "records").glob("*.json"))
    }


def test_zig_builds_manylinux2014_wheels_the_same_anywhere(
    tmp_path: Path, sdist_cache: Path
) -> None:
    first = _zig_farm(tmp_path / "a", sdist_cache)
    second = _zig_farm(tmp_path / "elsewhere" / "b", sdist_cache)
    other = second.start_build("--platform", NATIVE)
    assert first.build("--platform", NATIVE) == 0
    assert other.wait() == 0
    assert first.wheels() == second.wheels() and len(first.wheels()) == 2
    home = os.environ.get("HOME", "/root")
    for project, record in _records(first).items():
        assert "manylinux_2_17_x86_64" in str(record["wheel"]), record["wheel"]
        inputs = record["inputs"]
        assert isinstance(inputs, dict)
        toolchain = inputs["toolchain"]
        assert toolchain["target"] == "x86_64-linux-gnu.2.17" and "cc" not in toolchain
        assert len(toolchain["zig-sha256"]) == 64
        wheel = first.store / "blobs" / str(record["wheel_sha256"])
        assert elf_members(wheel), project  # the extension is really there
        assert (2, 2) <= glibc_needed(wheel) <= (2, 17), project  # what ipwhl check reads
        paths = [str(first.build_root), str(second.build_root), str(sdist_cache), home]
        assert machine_traces(wheel, paths) == [], project


def test_a_native_library_is_built_by_the_farm_and_linked_statically(
    tmp_path: Path, sdist_cache: Path
) -> None:
    """pyyaml with the farm's own libyaml (libraries/libyaml.toml), no libyaml-dev: its
    recipe's test asserts `yaml.__with_libyaml__` in the installed wheel."""
    farm = _zig_farm(tmp_path, sdist_cache, ("pyyaml",))
    assert farm.build("--platform", NATIVE) == 0
    record = _records(farm)["pyyaml"]
    assert "manylinux_2_17_x86_64" in str(record["wheel"])
    inputs = record["inputs"]
    assert isinstance(inputs, dict)
    assert len(inputs["toolchain"]["library libyaml"]) == 64  # the library's input hash
    (archive,) = (farm.store / "libraries").glob("*.tar")
    assert archive.stem == inputs["toolchain"]["library libyaml"]
    wheel = farm.store / "blobs" / str(record["wheel_sha256"])
    members = elf_members(wheel)
    assert not any("libyaml" in name for name in members)  # linked in, not grafted
    assert machine_traces(wheel, [str(farm.build_root), str(sdist_cache)]) == []

    # The tree alone rebuilds it: libyaml's file and source travel under _sources/_farm/.
    out = tmp_path / "public"
    assert main(["--root", str(farm.root), "assemble", "--store", str(farm.store), "--cache",
                 str(sdist_cache), "--out", str(out), "--platform", NATIVE]) == 0  # fmt: skip
    farm_dir = out / "tree" / "_sources" / "_farm"
    assert (farm_dir / "libraries" / "libyaml.toml").is_file()
    assert list((farm_dir / "library-sources").rglob("libyaml_0.2.5.orig.tar.gz"))
    assert main(["verify", str(out / "tree"), "--out", str(tmp_path / "verify")]) == 0
    report = json.loads((tmp_path / "verify" / "report.json").read_text())
    verdicts = {(r["project"], r["platform"]): r["verdict"] for r in report["rows"]}
    assert verdicts == {("pyyaml", NATIVE): "reproduced"}
