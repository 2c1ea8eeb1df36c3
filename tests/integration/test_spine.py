"""The build spine end to end: real sdists, real uv, real auditwheel, real interpreters."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest

from tests.integration.farmcopy import NATIVE, make_farm, make_sdist, recipe_head, snapshot

pytestmark = [pytest.mark.network, pytest.mark.slow]

SUBSET = ["six", "markupsafe", "pyyaml"]  # pure, C extension, grafted libyaml


def test_subset_is_reproducible_across_checkouts_stores_roots_and_time(
    tmp_path: Path, sdist_cache: Path
) -> None:
    first = make_farm(tmp_path / "a", SUBSET, cache=sdist_cache)
    second = make_farm(tmp_path / "elsewhere" / "b", SUBSET, cache=sdist_cache)
    platforms = ["--platform", NATIVE, "--platform", "linux-x86_64-cp311"]
    assert first.build(*platforms) == 0
    time.sleep(1.5)  # a later clock: timestamps must not leak into wheels
    assert second.build(*platforms) == 0
    assert first.wheels() == second.wheels()
    assert len(first.wheels()) == 6

    records = {
        (r["project"], r["platform"]): r
        for r in (json.loads(p.read_text()) for p in (first.store / "records").glob("*.json"))
    }
    six_cp311 = records[("six", "linux-x86_64-cp311")]
    assert six_cp311["built_on"] == NATIVE  # the pure wheel is built once and reused
    assert six_cp311["wheel_sha256"] == records[("six", NATIVE)]["wheel_sha256"]
    pyyaml = records[("pyyaml", NATIVE)]
    with zipfile.ZipFile(first.store / "blobs" / pyyaml["wheel_sha256"]) as wheel:
        names = wheel.namelist()
        stamps = {info.date_time for info in wheel.infolist()}
    # The farm's own libyaml, linked statically by the pinned zig: nothing grafted.
    assert not any(n.startswith("pyyaml.libs/") for n in names), names
    assert len(stamps) == 1  # normalized: one fixed time for every entry
    assert pyyaml["network_isolated"] is True
    toolchain = pyyaml["inputs"]["toolchain"]
    assert toolchain["target"] == "x86_64-linux-gnu.2.17" and "library libyaml" in toolchain
    assert "cc" not in toolchain and "libc" not in toolchain  # the host's are no input


def test_unchanged_rebuild_is_cached_and_one_change_rebuilds_only_it(
    tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = make_farm(tmp_path, ["six", "markupsafe"], cache=sdist_cache)
    assert farm.build("--platform", NATIVE, "--platform", "linux-x86_64-cp313") == 0
    before = farm.wheels()
    capsys.readouterr()
    assert farm.build("--platform", NATIVE, "--platform", "linux-x86_64-cp313") == 0
    out = capsys.readouterr().out
    assert "4 jobs: 4 cached" in out

    recipe = farm.root / "recipes" / "six.toml"
    recipe.write_text(
        recipe.read_text().replace('imports = ["six"]', 'imports = ["six", "six.moves"]')
    )
    assert farm.build("--platform", NATIVE, "--platform", "linux-x86_64-cp313") == 0
    out = capsys.readouterr().out
    assert "2 cached" in out and "1 built" in out and "1 reused" in out
    assert "cached markupsafe@linux-x86_64-cp312" in out
    assert farm.wheels() == before  # same sources: same bytes, even rebuilt


ENVDUMP_SETUP = """
import json, os, socket, sys
from setuptools import setup

try:
    socket.create_connection(("127.0.0.1", int(os.environ.get("ENVDUMP_WITH_PORT", "9"))), 2)
    network = "reachable"
except OSError as e:
    network = f"unreachable: {e}"
os.makedirs("envdump", exist_ok=True)
with open("envdump/__init__.py", "w") as f:
    f.write("ENV = " + repr(dict(os.environ)) + "\\n")
    f.write("UMASK = " + repr(oct(os.umask(0o22))) + "\\n")
    f.write("NETWORK = " + repr(network) + "\\n")
setup(name="envdump", version="1.0", packages=["envdump"])
"""


def test_secret_in_callers_environment_never_reaches_the_backend(
    tmp_path: Path, sdist_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = "s3cr3t-" + tmp_path.name
    monkeypatch.setenv("IPWHL_TEST_SECRET", secret)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    # A variable the recipe sets reaches the backend; the caller's does not.
    farm = make_farm(tmp_path, [], cache=sdist_cache)
    url, sha = make_sdist(
        sdist_cache,
        "envdump",
        "1.0",
        {
            "setup.py": ENVDUMP_SETUP,
            "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
            'build-backend = "setuptools.build_meta"\n',
        },
    )
    farm.write_recipe(
        "envdump",
        recipe_head("envdump", url, sha)
        + f"""
[build]
pure = true
env = {{ ENVDUMP_WITH_PORT = "{server.server_address[1]}" }}
[test]
imports = ["envdump"]
""",
    )
    try:
        assert farm.build("--platform", NATIVE) == 0
    finally:
        server.shutdown()
    (record,) = [json.loads(p.read_text()) for p in (farm.store / "records").glob("*.json")]
    with zipfile.ZipFile(farm.store / "blobs" / record["wheel_sha256"]) as wheel:
        dump = wheel.read("envdump/__init__.py").decode()
    namespace: dict[str, object] = {}
    exec(dump, namespace)  # our own generated module
    env = namespace["ENV"]
    assert isinstance(env, dict)
    assert secret not in dump
    assert "IPWHL_TEST_SECRET" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["SOURCE_DATE_EPOCH"] == "1700000000"
    assert env["HOME"] != str(Path.home())
    assert namespace["UMASK"] == "0o22"
    assert str(namespace["NETWORK"]).startswith("unreachable")
    assert record["network_isolated"] is True
    log = (farm.store / "logs" / NATIVE / "envdump.log").read_text()
    assert secret not in log


def test_a_failing_job_stops_nothing_else_and_fails_the_run(
    tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = make_farm(tmp_path, ["six", "markupsafe"], cache=sdist_cache)
    recipe = farm.root / "recipes" / "six.toml"
    recipe.write_text(
        recipe.read_text().replace('imports = ["six"]', 'imports = ["six", "no_such_module"]')
    )
    assert farm.build("--platform", NATIVE) == 1
    out = capsys.readouterr().out
    assert "failed six@linux-x86_64-cp312" in out
    assert "No module named 'no_such_module'" in out
    assert "built markupsafe@linux-x86_64-cp312" in out
    assert set(farm.wheels()) == {("markupsafe", NATIVE)}  # no record for the failure


def test_wrong_sha256_builds_and_stores_nothing(
    tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = make_farm(tmp_path, ["six"], cache=tmp_path / "empty-cache")
    recipe = farm.root / "recipes" / "six.toml"
    text = recipe.read_text()
    real = text.split('sha256 = "')[1].split('"')[0]
    recipe.write_text(text.replace(real, "0" * 64))
    assert farm.build("--platform", NATIVE) == 1
    out = capsys.readouterr().out
    assert "source.sha256" in out and real in out and "0" * 64 in out
    assert not (farm.store / "records").exists()
    assert snapshot(tmp_path / "empty-cache") == {}  # the bad download was not kept


GLIBC_234_SETUP = """
from setuptools import Extension, setup
setup(name="newglibc", version="1.0",
      ext_modules=[Extension("newglibc", ["newglibc.c"])])
"""
GLIBC_234_C = """
#include <Python.h>
#include <pthread.h>
static void *run(void *arg) { return arg; }
static PyObject *go(PyObject *self, PyObject *args) {
    pthread_t t; pthread_create(&t, NULL, run, NULL); pthread_join(t, NULL);
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {{"go", go, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "newglibc", NULL, -1, methods};
PyMODINIT_FUNC PyInit_newglibc(void) { return PyModule_Create(&module); }
"""


def test_a_wheel_that_cannot_meet_its_policy_fails_in_plain_words(
    tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = make_farm(tmp_path, [], cache=sdist_cache)
    platform = farm.root / "platforms" / f"{NATIVE}.toml"
    # The host's gcc and glibc 2.36 (the pinned zig links against 2.17 and cannot do this).
    platform.write_text(platform.read_text().replace('toolchain = "zig"', 'toolchain = "host"'))
    url, sha = make_sdist(
        sdist_cache,
        "newglibc",
        "1.0",
        {
            "setup.py": GLIBC_234_SETUP,
            "newglibc.c": GLIBC_234_C,
            "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
            'build-backend = "setuptools.build_meta"\n',
        },
    )
    farm.write_recipe(
        "newglibc",
        recipe_head("newglibc", url, sha)
        + """
[test]
imports = ["newglibc"]
""",
    )
    assert farm.build("--platform", NATIVE) == 1
    out = capsys.readouterr().out
    assert "auditwheel cannot repair" in out
    assert "manylinux_2_17_x86_64" in out
    assert "glibc symbols newer than the policy allows" in out
    assert not (farm.store / "records").exists()
