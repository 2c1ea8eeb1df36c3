"""Hostile and careless input, each through a real `ipwhl build`: the bad job fails
with an error naming the file and the fix, the rest of the run goes on, and nothing of
the bad job reaches the store."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builder.cli import main
from tests.integration.farmcopy import NATIVE, FarmCopy, make_farm, make_sdist

pytestmark = [pytest.mark.network, pytest.mark.slow]

PYPROJECT = (
    '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
    '[project]\nname = "{name}"\nversion = "1.0"\n'
)


def _recipe(farm: FarmCopy, name: str, url: str, sha: str) -> None:
    farm.write_recipe(name, f"""
[project]
name = "{name}"
version = "1.0"
license = "MIT"
[source]
url = "{url}"
sha256 = "{sha}"
[build]
pure = true
[test]
imports = ["{name}"]
""")  # fmt: skip


def _raw_sdist(cache: Path, filename: str, data: bytes) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    target = cache / "sdists" / sha / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return f"https://example.invalid/{filename}", sha


def _stored_projects(farm: FarmCopy) -> set[str]:
    return {json.loads(p.read_text())["project"] for p in (farm.store / "records").glob("*")}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("another project's sdist", "is other 1.0 by its PKG-INFO, not victim 1.0"),
        ("another version's sdist", "is victim 2.0 by its PKG-INFO, not victim 1.0"),
        ("no PKG-INFO", "has no PKG-INFO naming its project"),
        ("not an archive", "cannot be read"),
        ("malformed pyproject.toml", "cannot be read"),
    ],
)
def test_a_bad_sdist_fails_its_own_job_and_the_run_goes_on(
    tmp_path: Path, sdist_cache: Path, case: str, expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    cache = tmp_path / "cache"
    farm = make_farm(tmp_path, ["six"], cache=sdist_cache)
    six = (farm.root / "recipes" / "six.toml").read_text()
    (cache / "sdists").mkdir(parents=True)
    # six's sdist, where the run's fetch finds it: the good job of the run.
    for path in sdist_cache.glob("sdists/ff70335d*/*"):
        target = cache / "sdists" / path.parent.name / path.name
        target.parent.mkdir(parents=True)
        target.write_bytes(path.read_bytes())
    files = {"pyproject.toml": PYPROJECT.format(name="victim"), "victim/__init__.py": ""}
    if case == "another project's sdist":
        url, sha = make_sdist(cache, "other", "1.0", files)
        url = url.replace("other", "victim")
    elif case == "another version's sdist":
        url, sha = make_sdist(cache, "victim", "2.0", files)
        url = url.replace("2.0", "1.0")
    elif case == "no PKG-INFO":
        url, sha = make_sdist(cache, "victim", "1.0", {**files, "PKG-INFO": ""})
    elif case == "not an archive":
        url, sha = _raw_sdist(cache, "victim-1.0.tar.gz", b"<html>not found</html>")
    else:
        broken = {**files, "pyproject.toml": "[build-system\nrequires = ["}
        url, sha = make_sdist(cache, "victim", "1.0", broken)
    _recipe(farm, "victim", url, sha)
    # The sdist lives under its sha256 in the run's cache; the fetch trusts it by hash.
    moved = next(cache.glob(f"sdists/{sha}/*"))
    moved.rename(moved.with_name("victim-1.0.tar.gz"))
    assert (farm.root / "recipes" / "six.toml").read_text() == six
    run = FarmCopy(root=farm.root, store=farm.store, build_root=farm.build_root, cache=cache)
    assert run.build("--platform", NATIVE) == 1
    out = "".join(capsys.readouterr().out.split())  # the table wraps long messages
    assert "".join(expected.split()) in out and "recipes/victim.toml" in out
    assert _stored_projects(run) == {"six"}  # the run went on; the bad job left nothing


def _build_process(farm: FarmCopy, *projects: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "builder", "--root", str(farm.root), "build", *projects,
            "--platform", NATIVE, "--store", str(farm.store), "--build-root",
            str(farm.build_root), "--cache", str(farm.cache)]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def test_a_run_killed_with_a_wheel_staged_leaves_nothing_a_rerun_keeps(
    tmp_path: Path, sdist_cache: Path
) -> None:
    farm = make_farm(tmp_path, ["six"], cache=sdist_cache)
    run = _build_process(farm, "six")
    deadline = time.monotonic() + 300
    while not list(farm.store.glob("staging/pid-*/*")):  # built, not yet tested
        assert run.poll() is None and time.monotonic() < deadline, "no wheel was staged"
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)  # the run and every worker, mid-job
    run.wait()
    assert not list(farm.store.glob("records/*"))  # an untested wheel was never recorded
    assert farm.build("six", "--platform", NATIVE) == 0
    assert not list(farm.store.glob("staging/*")) and not list(farm.store.glob("tmp/pid-*/*"))
    assert main(["store", "check", "--store", str(farm.store)]) == 0


def test_two_runs_on_one_store_and_build_root_both_succeed(
    tmp_path: Path, sdist_cache: Path
) -> None:
    farm = make_farm(tmp_path, ["six", "markupsafe"], cache=sdist_cache)
    first, second = _build_process(farm), _build_process(farm)
    outputs = [p.communicate(timeout=900)[0].decode() for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], "\n".join(outputs)
    assert _stored_projects(farm) == {"six", "markupsafe"}
    assert main(["store", "check", "--store", str(farm.store)]) == 0
