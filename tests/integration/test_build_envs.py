"""Each recipe resolves its own build environment: two recipes that need conflicting
versions of a backend both build in one run, and a recipe's override replaces what its
sdist asks for. Real uv against PyPI, real setuptools, real builds."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from packaging.version import Version

from builder.cli import main
from tests.integration.farmcopy import (
    NATIVE,
    FarmCopy,
    make_farm,
    make_sdist,
    recipe_head,
    snapshot,
)

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _project(farm: FarmCopy, name: str, requires: list[str], extra: str = "") -> None:
    pyproject = (
        f"[build-system]\nrequires = {json.dumps(requires)}\n"
        'build-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\n'
    )
    url, sha = make_sdist(farm.cache, name, "1.0", {
        "pyproject.toml": pyproject, f"{name}/__init__.py": "",
    })  # fmt: skip
    farm.write_recipe(name, recipe_head(name, url, sha) + f"""
[build]
pure = true
{extra}
[test]
imports = ["{name}"]
""", locks_of=None)  # fmt: skip


def _pinned(farm: FarmCopy, name: str, project: str = "setuptools") -> Version:
    """The version of `project` the recipe's lock pins."""
    text = (farm.root / "locks" / name / "cp312.txt").read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith(f"{project}==")]
    return Version(line.split("==")[1].split()[0])


def _generator(farm: FarmCopy, record: dict[str, object]) -> str:
    """Who wrote the wheel, in its own words (setuptools names its version)."""
    wheel = farm.store / "blobs" / str(record["wheel_sha256"])
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/WHEEL")]
        (line,) = [ln for ln in archive.read(name).decode().splitlines() if ln.startswith("Gen")]
    return line


def test_conflicting_build_requirements_coexist_and_overrides_show(
    tmp_path: Path, sdist_cache: Path
) -> None:
    farm = make_farm(tmp_path, [], cache=sdist_cache)
    # setuptools before 70.1 asks for wheel at build time (get_requires_for_build_wheel).
    _project(farm, "oldtools", ["setuptools>=68,<70", "wheel"])
    _project(farm, "newtools", ["setuptools>=80"])
    # An upstream pin too old for this interpreter, replaced without a patch.
    _project(farm, "overridden", ["setuptools<60"], 'overrides = ["setuptools>=80"]')
    root = ["--root", str(farm.root)]
    assert main([*root, "build-lock", "--cache", str(sdist_cache)]) == 0

    assert Version("68") <= _pinned(farm, "oldtools") < Version("70")
    assert _pinned(farm, "newtools") >= Version("80")
    assert _pinned(farm, "overridden") >= Version("80")
    assert (farm.root / "locks" / "overridden" / "overrides.txt").read_text() == (
        "setuptools>=80\n"
    )
    assert not (farm.root / "locks" / "oldtools" / "overrides.txt").exists()
    # A pure recipe is built on one platform: one lock.
    assert sorted(p.name for p in (farm.root / "locks" / "oldtools").iterdir()) == [
        "cp312.txt",
        "requirements.in",
    ]

    assert farm.build("--platform", NATIVE) == 0
    records = {
        r["project"]: r
        for r in (json.loads(p.read_text()) for p in (farm.store / "records").glob("*.json"))
    }
    for name in ("oldtools", "newtools", "overridden"):
        pinned = f"setuptools=={_pinned(farm, name)} "
        assert any(
            line.startswith(pinned) for line in records[name]["inputs"]["build-requirements"]
        )
    # Each wheel says which backend wrote it: setuptools 70.1 and later, on its own;
    # before, the wheel package's bdist_wheel.
    assert _generator(farm, records["oldtools"]) == (
        f"Generator: bdist_wheel ({_pinned(farm, 'oldtools', 'wheel')})"
    )
    for name in ("newtools", "overridden"):
        assert _generator(farm, records[name]) == f"Generator: setuptools ({_pinned(farm, name)})"
    assert records["overridden"]["inputs"]["build-overrides"] == ["setuptools>=80"]
    assert "build-overrides" not in records["newtools"]["inputs"]


def test_a_recipe_that_cannot_resolve_names_itself_and_keeps_every_other_lock(
    tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = make_farm(tmp_path, [], cache=sdist_cache)
    _project(farm, "fine", ["setuptools>=80"])
    _project(farm, "torn", ["setuptools<70", "setuptools>=80"])
    root = ["--root", str(farm.root)]
    assert main([*root, "build-lock", "fine", "--cache", str(sdist_cache)]) == 0
    before = snapshot(farm.root / "locks")
    capsys.readouterr()
    assert main([*root, "build-lock", "--cache", str(sdist_cache)]) == 2
    said = capsys.readouterr().err
    assert "recipes/torn.toml (cp312): uv cannot compile" in said
    assert "build.overrides" in said
    # fine's lock was written again, the same; torn has none, not half of one.
    assert snapshot(farm.root / "locks") == before
    assert sorted(p.name for p in (farm.root / "locks").iterdir()) == ["fine"]
    assert list(farm.root.glob("tmp*")) == []
