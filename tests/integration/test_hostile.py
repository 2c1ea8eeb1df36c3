"""Hostile and careless input, each through a real `ipwhl build`: the bad job fails
with an error naming the file and the fix, the rest of the run goes on, and nothing of
the bad job reaches the store."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
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


def _build_process(
    farm: FarmCopy, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "builder", "--root", str(farm.root), "build", *args,
            "--platform", NATIVE, "--store", str(farm.store), "--build-root",
            str(farm.build_root), "--cache", str(farm.cache)]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)  # fmt: skip


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


HOSTILE_SETUP = """
import glob, json, os, socket
from setuptools import setup

found = {}
for name, path in json.loads(os.environ.get("PROBE_WITH_TARGETS", "{}")).items():
    try:
        with open(path, "a") as f:
            f.write("written by a build\\n")
        found[name] = "written"
    except OSError as e:
        found[name] = type(e).__name__
secrets = []
for environ in glob.glob("/proc/[0-9]*/environ"):
    try:
        if b"IPWHL_HOSTILE_SECRET" in open(environ, "rb").read():
            secrets.append(environ)
    except OSError:
        pass
found["secret"] = secrets
found["processes"] = len(glob.glob("/proc/[0-9]*"))
found["uid"] = os.getuid()
try:
    open("/etc/shadow", "rb").read()
    found["shadow"] = "read"
except OSError as e:
    found["shadow"] = type(e).__name__
for name, address in (("unix socket", "{socket}"),):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(address)
        found[name] = "connected"
    except OSError as e:
        found[name] = type(e).__name__
tcp = socket.socket()
try:
    tcp.connect(("127.0.0.1", {port}))
    found["tcp"] = "connected"
except OSError as e:
    found["tcp"] = type(e).__name__
print("PROBE-FINDINGS " + json.dumps(found, sort_keys=True))
setup()
"""


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandbox", "no-sandbox"])
def test_a_hostile_build_reaches_nothing_outside_its_job(
    tmp_path: Path, sdist_cache: Path, sandbox: bool
) -> None:
    """Without the sandbox (the control) the same build reads the secret and changes a
    recipe: the assertions below are what the sandbox buys."""
    farm = make_farm(tmp_path, ["six"], cache=sdist_cache)
    victims = {
        "recipe": farm.root / "recipes" / "six.toml",
        "store": farm.store / "planted",
        "host tmp": tmp_path / "outside",
        "build root": farm.build_root / "planted",
    }
    before = {name: path.read_bytes() if path.exists() else None for name, path in victims.items()}
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(tmp_path / "host.sock"))
    unix.listen()
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    setup_py = HOSTILE_SETUP.replace("{socket}", str(tmp_path / "host.sock"))
    setup_py = setup_py.replace("{port}", str(tcp.getsockname()[1]))
    pyproject = PYPROJECT.format(name="probe")
    url, sha = make_sdist(farm.cache, "probe", "1.0", {
        "pyproject.toml": pyproject, "setup.py": setup_py, "probe/__init__.py": "",
    })  # fmt: skip
    _recipe(farm, "probe", url, sha)
    recipe = farm.root / "recipes" / "probe.toml"
    targets = json.dumps({k: str(v) for k, v in victims.items()}).replace('"', '\\"')
    recipe.write_text(recipe.read_text().replace(
        "[build]\n", f'[build]\nenv = {{ PROBE_WITH_TARGETS = "{targets}" }}\n'))  # fmt: skip
    # A secret in the environment `ipwhl` was started with, as a CI runner's token would
    # be: a process's /proc/<pid>/environ is what it was exec'd with, so a child process.
    run = _build_process(farm, "probe", *([] if sandbox else ["--no-sandbox"]),
                         env={**os.environ, "IPWHL_HOSTILE_SECRET": "hunter2"})  # fmt: skip
    output = run.communicate(timeout=600)[0].decode()
    assert run.returncode == 0, output
    log = (farm.store / "logs" / NATIVE / "probe.log").read_text()
    found = json.loads(log.split("PROBE-FINDINGS ", 1)[1].splitlines()[0])
    if not sandbox:
        assert found["secret"] != [] and found["recipe"] == "written", found
        assert found["uid"] == os.getuid() and (os.getuid() != 0 or found["shadow"] == "read")
        return
    # Inside, the recipe is absent and the rest lands in the sandbox's private /tmp
    # (the job's directory lives under it here), gone when the job ends: the host's
    # files are as they were.
    assert found["recipe"] != "written" and found["store"] != "written", found
    assert {name: path.read_bytes() if path.exists() else None
            for name, path in victims.items()} == before  # fmt: skip
    assert found["secret"] == []
    assert found["processes"] <= 3  # bwrap's init, the frontend and the backend
    assert found["unix socket"] != "connected" and found["tcp"] != "connected"
    # Not root, outside the sandbox either: what the system keeps for root stays closed.
    assert found["uid"] == 65534 and found["shadow"] == "PermissionError", found
