"""`ipwhl new` on real projects not in the set: the recipes it writes build, pass their
tests and pass `ipwhl check`, with no hand edits."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from builder.cli import main
from tests.integration.farmcopy import make_farm

# A flit pure project, a setuptools pure project, and a C extension; none in the set.
PROJECTS = ["tomli-w", "cachetools", "setproctitle"]
PLATFORMS = "linux-x86_64-cp31[123]"


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("name", PROJECTS)
def test_new_writes_a_recipe_that_builds_and_checks(
    name: str, tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = make_farm(tmp_path, [], cache=sdist_cache)
    assert not (farm.root / "recipes" / f"{name}.toml").exists()
    code = main(
        [
            "--root", str(farm.root), "new", name, "--store", str(farm.store),
            "--cache", str(sdist_cache), "--build-root", str(farm.build_root), "-j", "2",
            # The three CPythons of this machine: not aarch64, which qemu makes slow (its
            # own test covers it), nor the rooted ones (test_roots covers them).
            "--platform", PLATFORMS,
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    recipe = tomllib.loads((farm.root / "recipes" / f"{name}.toml").read_text())
    assert recipe["project"]["name"] == name
    assert recipe["test"]["imports"]
    built = {platform for project, platform in farm.wheels() if project == name}
    assert {f"linux-x86_64-cp3{minor}" for minor in range(11, 14)} <= built, out
    code = main(
        [
            "--root", str(farm.root), "check", "--json", "--platform", PLATFORMS,
            "--store", str(farm.store), "--cache", str(sdist_cache),
        ]
    )  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["problems"]
    assert report["ok"]
