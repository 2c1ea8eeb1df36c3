"""Every "built", "tested" and "reproduced" is earned: real builds, real uv, real tests."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

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

PYPROJECT = (
    '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
    '[project]\nname = "probe"\nversion = "1.0"\n'
)


def _probe(farm: FarmCopy, cache: Path, module: str, check: str, *, pure: bool = True) -> str:
    """Write probe 1.0 with `module` as probe/__init__.py; return its sdist sha256."""
    url, sha = make_sdist(
        cache, "probe", "1.0", {"pyproject.toml": PYPROJECT, "probe/__init__.py": module}
    )
    farm.write_recipe(
        "probe",
        recipe_head("probe", url, sha)
        + f"""
[build]
pure = {str(pure).lower()}
[test]
imports = ["probe"]
commands = ["python -c '{check}'"]
""",
    )
    return sha


def _built_from(farm: FarmCopy, sdist_sha256: str) -> str:
    """The sha256 of the wheel the store's record for this sdist names."""
    (sha,) = {
        record["wheel_sha256"]
        for record in (json.loads(p.read_text()) for p in (farm.store / "records").glob("*.json"))
        if record["inputs"].get("sdist") == sdist_sha256
    }
    return str(sha)


def _wheel_blobs(store: Path) -> set[str]:
    blobs = store / "blobs"
    return {p.name for p in blobs.iterdir() if zipfile.is_zipfile(p)} if blobs.exists() else set()


def test_the_test_installs_the_wheel_just_built_not_one_of_the_same_name(
    tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = make_farm(tmp_path, [], cache=sdist_cache)
    one = _probe(farm, sdist_cache, "VALUE = 1\n", "import probe; assert probe.VALUE == 1")
    assert farm.build("--platform", NATIVE) == 0
    first = _built_from(farm, one)

    # The same name and version with other bytes (a corrected sdist): its test must see
    # VALUE = 2, not the wheel an earlier build left in some installer's cache.
    two = _probe(farm, sdist_cache, "VALUE = 2\n", "import probe; assert probe.VALUE == 2")
    capsys.readouterr()
    assert farm.build("--platform", NATIVE) == 0, capsys.readouterr().out
    second = _built_from(farm, two)
    assert second != first and (farm.store / "blobs" / first).is_file()
    with zipfile.ZipFile(farm.store / "blobs" / second) as wheel:
        assert wheel.read("probe/__init__.py") == b"VALUE = 2\n"

    # And the reverse: a broken wheel under the old name fails, although a good wheel of
    # that name and version is in the store, and leaves nothing but its log.
    blobs_before = _wheel_blobs(farm.store)
    records_before = snapshot(farm.store / "records")
    _probe(farm, sdist_cache, "raise ImportError('broken')\n", "import probe")
    capsys.readouterr()
    assert farm.build("--platform", NATIVE) == 1
    out = capsys.readouterr().out
    assert "failed probe@linux-x86_64-cp312" in out and "broken" in out
    assert _wheel_blobs(farm.store) == blobs_before
    assert snapshot(farm.store / "records") == records_before
    assert not any((farm.store / "staging").iterdir())
    log = (farm.store / "logs" / NATIVE / "probe.log").read_text()
    assert "ImportError: broken" in log


OPTIONAL_EXTENSION_SETUP = """
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

class optional_build_ext(build_ext):
    def run(self):
        try:
            super().run()
        except Exception:
            print("WARNING: The C extension could not be compiled, speedups are not enabled.")

setup(name="probe", version="1.0", packages=["probe"],
      ext_modules=[Extension("probe._speedups", ["probe/_speedups.c"])],
      cmdclass={"build_ext": optional_build_ext})
"""


def test_a_dropped_extension_says_what_was_missing_not_make_it_pure(
    tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = make_farm(tmp_path, [], cache=sdist_cache)
    url, sha = make_sdist(
        sdist_cache,
        "probe",
        "1.0",
        {
            "pyproject.toml": PYPROJECT.split("[project]")[0],
            "setup.py": OPTIONAL_EXTENSION_SETUP,
            "probe/__init__.py": "",
            "probe/_speedups.c": "#include <Python.h>\n#include <no_such_library.h>\n",
        },
    )
    farm.write_recipe(
        "probe",
        recipe_head("probe", url, sha)
        + """
[test]
imports = ["probe"]
""",
    )
    assert farm.build("--platform", NATIVE) == 1
    out = capsys.readouterr().out
    assert "without its compiled extension" in out
    assert "the header no_such_library.h is missing" in out
    assert "pure = true" not in out
    assert _wheel_blobs(farm.store) == set()


def test_verify_reproduces_a_tree_of_pure_projects_only(
    tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify rebuilds at -j 1: a run of only pure projects used to crash there."""
    farm = make_farm(tmp_path, ["six", "idna"], cache=sdist_cache)
    platforms = ["--platform", "linux-x86_64-cp3*"]
    assert farm.build(*platforms, "-j", "1") == 0
    records = [json.loads(p.read_text()) for p in (farm.store / "records").glob("*.json")]
    by_key = {(r["project"], r["platform"]): r for r in records}
    for record in records:  # a reused wheel names the job that built it, and how
        builder = by_key[(record["project"], NATIVE)]
        assert record["built_by"] == builder["input_hash"]
        assert record["network_isolated"] is builder["network_isolated"] is True
    code = main(["--root", str(farm.root), "assemble", "--store", str(farm.store),
                 "--out", str(tmp_path / "public")])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "public" / "tree"), "--out", str(tmp_path / "v")]) == 0
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    verdicts = {(r["project"], r["platform"]): r["verdict"] for r in report["rows"]}
    assert len(verdicts) == len(records) >= 6  # 2 projects x cp311-cp313
    assert set(verdicts.values()) == {"reproduced"}, verdicts
