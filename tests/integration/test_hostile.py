"""Hostile and careless input, each through a real `ipwhl build`: the bad job fails
with an error naming the file and the fix, the rest of the run goes on, and nothing of
the bad job reaches the store."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from builder.cli import main
from tests.fixtures.published import Published
from tests.fixtures.served import Answer, Origin
from tests.integration.farmcopy import (
    NATIVE,
    FarmCopy,
    make_farm,
    make_sdist,
    recipe_head,
    sdist_bytes,
    snapshot,
)

pytestmark = [pytest.mark.network, pytest.mark.slow]

PYPROJECT = (
    '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
    '[project]\nname = "{name}"\nversion = "1.0"\n'
)


def _recipe(farm: FarmCopy, name: str, url: str, sha: str) -> None:
    farm.write_recipe(name, recipe_head(name, url, sha) + f"""
[build]
pure = true
[test]
imports = ["{name}"]
""")  # fmt: skip


def _stored_projects(farm: FarmCopy) -> set[str]:
    return {json.loads(p.read_text())["project"] for p in (farm.store / "records").glob("*")}


def _link_tar(name: str, links: list[tuple[str, str]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        pkg_info = f"Metadata-Version: 2.2\nName: {name}\nVersion: 1.0\n".encode()
        info = tarfile.TarInfo(f"{name}-1.0/PKG-INFO")
        info.size = len(pkg_info)
        archive.addfile(info, io.BytesIO(pkg_info))
        for member, target in links:
            info = tarfile.TarInfo(f"{name}-1.0/{member}")
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _served(body: bytes) -> tuple[Answer, str]:
    """The origin answers with `body`, and the recipe pins exactly it."""
    return Answer(body=body), _sha(body)


GOOD = {"pyproject.toml": PYPROJECT.format(name="victim"), "victim/__init__.py": ""}
# case -> (what the origin answers for victim-1.0.tar.gz, the sha256 the recipe pins,
#          what the failed job's message must say)
SERVED: dict[str, tuple[Answer, str, str]] = {
    "another project's sdist": (
        *_served(sdist_bytes("other", "1.0", GOOD)),
        "is other 1.0 by its PKG-INFO, not victim 1.0",
    ),
    "another version's sdist": (
        *_served(sdist_bytes("victim", "2.0", GOOD)),
        "is victim 2.0 by its PKG-INFO, not victim 1.0",
    ),
    "no PKG-INFO": (
        *_served(sdist_bytes("victim", "1.0", {**GOOD, "PKG-INFO": ""})),
        "has no PKG-INFO naming its project",
    ),
    "not an archive": (
        *_served(b"<html>not found</html>"),
        "cannot be read",
    ),
    "malformed pyproject.toml": (
        *_served(sdist_bytes("victim", "1.0", {**GOOD, "pyproject.toml": "[build-system"})),
        "cannot be read",
    ),
    "other bytes than pinned": (
        Answer(body=sdist_bytes("victim", "1.0", {**GOOD, "victim/__init__.py": "evil()"})),
        _sha(sdist_bytes("victim", "1.0", GOOD)),
        "source.sha256",
    ),
    "a download cut short": (
        Answer(body=sdist_bytes("victim", "1.0", GOOD)[:100], length=5000),
        _sha(sdist_bytes("victim", "1.0", GOOD)),
        "source.sha256",
    ),
    "not found": (Answer(status=404), _sha(b""), "cannot download"),
    "a redirect to other bytes": (
        Answer(status=302, location="/elsewhere/victim-1.0.tar.gz"),
        _sha(sdist_bytes("victim", "1.0", GOOD)),
        "source.sha256",
    ),
    "links that chain out of the tree": (
        *_served(_link_tar("victim", [("c", "b/.."), ("b", "a/.."), ("a", ".")])),
        "leads outside the tree",
    ),
}


@pytest.mark.parametrize("case", sorted(SERVED))
def test_a_bad_sdist_served_from_127_0_0_1_fails_its_own_job_and_the_run_goes_on(
    tmp_path: Path, sdist_cache: Path, https_origin: Origin, case: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    answer, pin, expected = SERVED[case]
    cache = tmp_path / "cache"
    farm = make_farm(tmp_path, ["six"], cache=sdist_cache)
    six = (farm.root / "recipes" / "six.toml").read_text()
    # six's sdist, where the run's fetch finds it: the good job of the run.
    for path in sdist_cache.glob("sdists/ff70335d*/*"):
        target = cache / "sdists" / path.parent.name / path.name
        target.parent.mkdir(parents=True)
        target.write_bytes(path.read_bytes())
    url = https_origin.serve("/victim-1.0.tar.gz", answer)
    https_origin.serve("/elsewhere/victim-1.0.tar.gz", Answer(body=b"other bytes"))
    _recipe(farm, "victim", url, pin)
    run = FarmCopy(root=farm.root, store=farm.store, build_root=farm.build_root, cache=cache)
    assert run.build("--platform", NATIVE) == 1
    assert "/victim-1.0.tar.gz" in https_origin.requests  # fetched, not found in a cache
    out = "".join(capsys.readouterr().out.split())  # the table wraps long messages
    assert "".join(expected.split()) in out and "recipes/victim.toml" in out, out
    assert _stored_projects(run) == {"six"}  # the run went on; the bad job left nothing
    assert (farm.root / "recipes" / "six.toml").read_text() == six
    # Nothing half-downloaded or half-unpacked is kept where a rerun would trust it.
    assert not [p for p in cache.rglob("*") if ".part" in p.name]
    if expected == "source.sha256" or expected == "cannot download":
        assert not list(cache.glob(f"sdists/{pin}/*"))


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


DAEMON_SETUP = """
import os, subprocess, sys, time
from setuptools import setup

# A process that outlives the build, as a careless or hostile backend may leave.
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "{marker}"],
                 start_new_session=True)
print("PROBE-DAEMON-STARTED", flush=True)
if os.environ.get("PROBE_WITH_WAIT"):
    time.sleep(600)
setup()
"""


def _alive() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process that is not a zombie."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            found[int(stat.parent.name)] = (int(fields[1]), cmdline)
    return found


def _descendants(root: int) -> set[int]:
    alive, found, grew = _alive(), {root}, True
    while grew:
        more = {pid for pid, (parent, _) in alive.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found - {root}


def _gone(pids: set[int], marker: str, seconds: float = 20) -> dict[int, str]:
    """What is still alive of `pids`, or carries `marker`, after up to `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        left = {pid: cmd for pid, (_, cmd) in _alive().items() if pid in pids or marker in cmd}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _daemon_recipe(farm: FarmCopy, marker: str, *, wait: bool) -> None:
    setup_py = DAEMON_SETUP.replace("{marker}", marker)
    url, sha = make_sdist(farm.cache, "lingerer", "1.0", {
        "pyproject.toml": PYPROJECT.format(name="lingerer"), "setup.py": setup_py,
        "lingerer/__init__.py": "",
    })  # fmt: skip
    _recipe(farm, "lingerer", url, sha)
    if wait:
        recipe = farm.root / "recipes" / "lingerer.toml"
        recipe.write_text(recipe.read_text().replace(
            "[build]\n", '[build]\nenv = { PROBE_WITH_WAIT = "1" }\n'))  # fmt: skip


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandbox", "no-sandbox"])
def test_a_process_a_build_leaves_behind_ends_with_its_job(
    tmp_path: Path, sdist_cache: Path, sandbox: bool
) -> None:
    """The job's PID namespace ends with it; without the sandbox (the control) the
    daemon outlives the build."""
    farm = make_farm(tmp_path, [], cache=sdist_cache)
    marker = f"ipwhl-lingering-{tmp_path.name}"
    _daemon_recipe(farm, marker, wait=False)
    # The control also keeps its job's directory, which is removed by default.
    flags = [] if sandbox else ["--no-sandbox", "--keep-build-dirs"]
    run = _build_process(farm, "lingerer", *flags)
    output = run.communicate(timeout=600)[0].decode()
    assert run.returncode == 0, output
    assert (farm.build_root / NATIVE / "lingerer" / "sdist").is_dir() is not sandbox
    left = _gone(set(), marker, seconds=5)
    for pid in left:  # the control's daemon: do not leave it to the next test
        os.kill(pid, signal.SIGKILL)
    assert bool(left) is not sandbox, left


def test_a_run_killed_mid_build_leaves_no_process_and_a_rerun_builds(
    tmp_path: Path, sdist_cache: Path
) -> None:
    """Only the run's own process is killed, as an OOM killer or `kill -9 PID` would:
    its workers, their sandboxes and what the backend started end too."""
    farm = make_farm(tmp_path, ["six"], cache=sdist_cache)
    marker = f"ipwhl-lingering-{tmp_path.name}"
    _daemon_recipe(farm, marker, wait=True)
    run = _build_process(farm, "lingerer", "six")
    log = farm.build_root / NATIVE / "lingerer.log"
    deadline = time.monotonic() + 300
    while not (log.exists() and "PROBE-DAEMON-STARTED" in log.read_text(errors="replace")):
        assert run.poll() is None and time.monotonic() < deadline, "the build never started"
        time.sleep(0.1)
    family = _descendants(run.pid)
    assert len(family) >= 4  # forkserver, workers, bubblewrap, the backend, the daemon
    run.kill()
    run.wait()
    assert _gone(family, marker) == {}
    recipe = farm.root / "recipes" / "lingerer.toml"
    recipe.write_text(recipe.read_text().replace('env = { PROBE_WITH_WAIT = "1" }\n', ""))
    assert farm.build("lingerer", "six", "--platform", NATIVE) == 0
    assert _stored_projects(farm) == {"six", "lingerer"}
    assert main(["store", "check", "--store", str(farm.store)]) == 0
    assert _gone(set(), marker, seconds=1) == {}


def _ipwhl(farm_root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "builder", "--root", str(farm_root), *args]


def _complete_or_absent(path: Path, reference: dict[str, str]) -> None:
    assert not path.exists() or snapshot(path) == reference, f"{path} is half-written"


@pytest.mark.parametrize("command", ["assemble", "seed", "derive"])
def test_a_command_killed_at_any_moment_leaves_nothing_half_done_and_a_rerun_finishes(
    tmp_path: Path, published: Published, command: str
) -> None:
    """SIGKILL at six moments spread over an uninterrupted run's time: after each, the
    result is either absent or whole, and the rerun gives the uninterrupted result
    with nothing of the killed runs left beside it."""
    farm = published.farm

    def argv(target: Path) -> list[str]:
        if command == "assemble":
            return _ipwhl(farm.root, "assemble", "--store", str(farm.store), "--cache",
                          str(farm.cache), "--out", str(target), "--platform", NATIVE)  # fmt: skip
        if command == "seed":
            return _ipwhl(farm.root, "seed", str(published.car), "--store", str(target),
                          "--cache", str(farm.cache))  # fmt: skip
        return _ipwhl(farm.root, "derive", str(published.car), str(target),
                      "--cache", str(farm.cache))  # fmt: skip

    def result(target: Path) -> Path:
        return target / "tree" if command == "assemble" else target

    reference = tmp_path / "reference"
    start = time.monotonic()
    subprocess.run(argv(reference), check=True, capture_output=True)
    seconds = time.monotonic() - start
    whole = snapshot(result(reference))
    target = tmp_path / "target"
    for step in range(1, 7):
        run = subprocess.Popen(argv(target), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(seconds * step / 7)
        run.kill()
        run.wait()
        if command == "seed":
            # A store grows by whole records: fewer of them, never a half one. What the
            # killed process had in its own tmp/ is swept by the next seed or build.
            kept = {k: v for k, v in snapshot(target).items() if not k.startswith("tmp/")}
            assert kept.items() <= whole.items(), f"{target} holds a half-written file"
            if target.exists():
                assert main(["store", "check", "--store", str(target)]) == 0
        else:
            _complete_or_absent(result(target), whole)
        if command == "derive" and target.exists():
            shutil.rmtree(target)  # derive never writes over a farm; start it again
    subprocess.run(argv(target), check=True, capture_output=True)
    assert snapshot(result(target)) == whole
    if command == "assemble":
        assert sorted(p.name for p in target.glob("*.car")) == [f"{published.root}.car"]
    leftovers = [p.name for p in (target.parent if command == "derive" else target).rglob("*")
                 if ".pid-" in p.name]  # fmt: skip
    assert leftovers == []


def test_seed_sweeps_what_a_killed_seed_left_in_its_tmp(
    tmp_path: Path, published: Published
) -> None:
    """The moment the kills above hit only sometimes, made certain: a dead process's
    half-copied record in the store's tmp/ is gone after the next seed."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    store = tmp_path / "store"
    leftover = store / "tmp" / f"pid-{gone.pid}" / "tmpabc123"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b'{"project": "six", "wheel_sha')
    farm = published.farm
    subprocess.run(_ipwhl(farm.root, "seed", str(published.car), "--store", str(store),
                          "--cache", str(farm.cache)), check=True, capture_output=True)  # fmt: skip
    assert not leftover.parent.exists()
    assert main(["store", "check", "--store", str(store)]) == 0


def test_a_blob_changed_in_the_store_is_not_cached_and_repair_brings_it_back(
    tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = make_farm(tmp_path, ["six"], cache=sdist_cache)
    assert farm.build("--platform", NATIVE) == 0
    ((_, sha),) = farm.wheels().items()
    blob = farm.store / "blobs" / sha
    good = blob.read_bytes()
    blob.chmod(0o644)
    blob.write_bytes(good.replace(b"six", b"sux", 1))
    capsys.readouterr()
    assert farm.build("--platform", NATIVE) == 1  # a no-op build, were the store trusted
    out = "".join(capsys.readouterr().out.split())
    assert "nolongerhasitssha256" in out and "storecheck--repair" in out
    assert main(["store", "check", "--store", str(farm.store)]) == 4
    assert main(["store", "check", "--store", str(farm.store), "--repair"]) == 0
    assert not blob.exists() and farm.wheels() == {}
    assert farm.build("--platform", NATIVE) == 0
    assert blob.read_bytes() == good  # rebuilt, bit for bit
    assert main(["store", "check", "--store", str(farm.store)]) == 0
