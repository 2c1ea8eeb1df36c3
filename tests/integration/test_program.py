"""A program in a wheel (`program = true`): ninja's C++ built once, on the lowest
CPython of its OS and arch, as one py3-none-manylinux2014 wheel that every interpreter
there installs and runs."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from builder.pipeline.elfcheck import elf_members, glibc_needed, interpreter_bound
from tests.integration.farmcopy import make_farm

pytestmark = [pytest.mark.network, pytest.mark.slow]

CP311, CP312 = "linux-x86_64-cp311", "linux-x86_64-cp312"


def test_ninja_is_built_once_and_the_same_wheel_serves_the_next_interpreter(
    tmp_path: Path, sdist_cache: Path
) -> None:
    farm = make_farm(tmp_path, ["ninja"], cache=sdist_cache)
    assert farm.build("--platform", CP312) == 0

    records = {}
    for path in (farm.store / "records").glob("*.json"):
        record = json.loads(path.read_text())
        records[record["platform"]] = record
    # Asked for cp312 alone, the plan built it on cp311, the lowest CPython of
    # linux-x86_64, and cp312 reused those bytes and ran them in its own test.
    assert set(records) == {CP311, CP312}
    built, reused = records[CP311], records[CP312]
    assert built["built_on"] == reused["built_on"] == CP311
    assert built["wheel_sha256"] == reused["wheel_sha256"]
    assert reused["wheel"] == "ninja-1.13.2-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    log = (farm.store / "logs" / CP312 / "ninja.log").read_text()
    assert "ninja --version" in log and "1.13.2" in log

    wheel = farm.store / "blobs" / built["wheel_sha256"]
    with zipfile.ZipFile(wheel) as archive:
        lines = archive.read("ninja-1.13.2.dist-info/WHEEL").decode().splitlines()
    assert {line for line in lines if line.startswith("Tag:")} == {
        "Tag: py3-none-manylinux2014_x86_64",
        "Tag: py3-none-manylinux_2_17_x86_64",
    }
    assert list(elf_members(wheel)) == ["ninja-1.13.2.data/scripts/ninja"]
    assert interpreter_bound(wheel) == []
    assert (2, 2) <= glibc_needed(wheel) <= (2, 17)
