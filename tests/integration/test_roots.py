"""The pinned system root of Debian sid's CPython 3.14, 3.15 and PyPy: fetched by sha256,
unpacked the same every time, and running in the sandbox on this Debian 12 machine."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from builder.errors import ChecksumMismatch
from builder.model.root import load_root
from builder.pipeline import roots
from builder.pipeline.elfcheck import machine_traces
from builder.pipeline.sandbox import Sandbox, bubblewrap
from tests.integration.farmcopy import REPO, make_farm, make_sdist, pyproject, recipe_head

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _tree(top: Path) -> dict[str, str]:
    found = {}
    for path in sorted(top.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(top))] = "-> " + str(path.readlink())
        elif path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(top))] = f"{path.stat().st_mode:o} {digest}"
    return found


@pytest.mark.skipif(bubblewrap() is None, reason="bubblewrap cannot run here")
def test_the_sid_root_runs_cpython_3_14_3_15_and_pypy_in_the_sandbox(
    tmp_path: Path, sdist_cache: Path
) -> None:
    home = roots.install(load_root(REPO, "sid-pythons"), sdist_cache)
    job = tmp_path / "job"
    job.mkdir()
    # A default SSL context loads the root's CA bundle: PyPy raises without one
    # (aiohttp makes such a context on import). The job's user has a name (libpq asks).
    # Imports read the standard library's bytecode (the same bytes wherever the root is
    # unpacked: the next test compares two unpacks file by file).
    program = (
        "import sys, sqlite3, ssl, ctypes, venv, pwd, grp; "
        "assert len(ssl.create_default_context().get_ca_certs()) > 100; "
        "assert pwd.getpwuid(os.getuid()).pw_name == 'nobody', pwd.getpwuid(os.getuid()); "
        "assert grp.getgrgid(os.getgid()).gr_name == 'nogroup'; "
        # The standard library's bytecode is in the root, as Debian's postinst makes it.
        "import json; assert os.path.isfile(json.__spec__.cached), json.__spec__; "
        "print(sys.implementation.name, sys.version_info[:2], os.getuid())"
    )
    found = []
    for python in ("python3.14", "python3.15", "pypy3"):
        argv = Sandbox(writable=job, system=home).wrap(
            [f"/usr/bin/{python}", "-c", "import os; " + program], cwd=job
        )
        done = subprocess.run(argv, capture_output=True, text=True, check=False,
                              env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})  # fmt: skip
        assert done.returncode == 0, done.stderr
        found.append(done.stdout.strip())
    uid = 65534
    assert found == [f"cpython (3, 14) {uid}", f"cpython (3, 15) {uid}", f"pypy (3, 11) {uid}"]
    # This machine's own system cannot run them: they need a newer glibc.
    own = subprocess.run([str(home / "usr" / "bin" / "python3.14"), "-c", "1"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert own.returncode != 0 and "GLIBC_2." in own.stderr


@pytest.mark.skipif(bubblewrap() is None, reason="bubblewrap cannot run here")
def test_a_build_on_a_root_sees_its_python_headers_and_none_of_its_glibc(
    tmp_path: Path, sdist_cache: Path
) -> None:
    """The root has libc6-dev; a build that passes -I/usr/include (pillow does) must
    still meet only the pinned toolchain's C library headers."""
    from builder.model.farm import load_farm
    from builder.pipeline import rooted

    platform = load_farm(REPO).platforms["linux-x86_64-cp315"]
    home = rooted.home(platform, sdist_cache)
    assert (home / "usr" / "include" / "stdio.h").is_file()
    job = tmp_path / "job"
    job.mkdir()
    script = (
        "test -f /usr/include/python3.15/Python.h"
        " && test -f /usr/include/x86_64-linux-gnu/python3.15/pyconfig.h"
        " && test -f /usr/include/pypy3.11/Python.h"
        " && ! test -e /usr/include/stdio.h && ! test -e /usr/include/x86_64-linux-gnu/bits"
    )
    for hidden, expected in ((True, 0), (False, 1)):
        sandbox = rooted.sandbox(platform, job, sdist_cache, python_headers_only=hidden)
        done = subprocess.run(sandbox.wrap(["/bin/sh", "-c", script], cwd=job),
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert done.returncode == expected, (hidden, done.stderr)


def test_the_root_unpacks_the_same_anywhere_and_a_wrong_pin_leaves_nothing(
    tmp_path: Path, sdist_cache: Path
) -> None:
    root = load_root(REPO, "sid-pythons")
    first = roots.install(root, sdist_cache)
    second = roots.install(root, tmp_path / "other-cache")  # every package fetched again
    assert first.name == second.name and first.name.startswith(root.sha256)
    assert _tree(first) == _tree(second)
    # One package pinned to other bytes: named, and no root (or half of one) is kept.
    lock = tmp_path / "farm" / "roots" / "tampered.toml"
    lock.parent.mkdir(parents=True)
    text = root.path.read_text()
    victim = next(d for d in root.debs if d.name == "tzdata")
    lock.write_text(text.replace(victim.sha256, "0" * 64))
    cache = tmp_path / "third-cache"
    with pytest.raises(ChecksumMismatch, match=r"tampered.toml: deb.tzdata"):
        roots.install(load_root(tmp_path / "farm", "tampered"), cache)
    assert os.listdir(cache / "roots") == []


@pytest.mark.skipif(bubblewrap() is None, reason="bubblewrap cannot run here")
def test_a_rooted_platform_builds_and_tests_wheels_the_same_anywhere(
    tmp_path: Path, sdist_cache: Path
) -> None:
    """markupsafe compiled for CPython 3.14 and 3.15 by the pinned zig against the root's
    headers, tested on the root's interpreters; on PyPy, where markupsafe compiles
    nothing by design, its pure wheel published for PyPy alone; six's pure wheel tested
    on all three. Two farms in two places give the same bytes."""
    wheels = []
    for name in ("a", "elsewhere/b"):
        farm = make_farm(tmp_path / name, ["six", "markupsafe"], cache=sdist_cache)
        assert farm.build("--platform", "linux-x86_64-cp31[245]",
                          "--platform", "linux-x86_64-pp311") == 0  # fmt: skip
        wheels.append(farm.wheels())
    assert wheels[0] == wheels[1]
    records = {
        (r["project"], r["platform"]): r
        for r in (json.loads(p.read_text()) for p in (farm.store / "records").glob("*.json"))
    }
    root_sha256 = load_root(REPO, "sid-pythons").sha256
    for tag in ("cp314", "cp315"):
        compiled = records[("markupsafe", f"linux-x86_64-{tag}")]
        tags = f"-{tag}-{tag}-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
        assert compiled["wheel"].endswith(tags)
        assert root_sha256 in compiled["inputs"]["interpreter"]
        assert compiled["tests"] == ["import markupsafe", "import markupsafe._speedups",
                                     *compiled["tests"][2:]]  # fmt: skip
    pypy = records[("markupsafe", "linux-x86_64-pp311")]
    assert pypy["wheel"] == "markupsafe-3.0.4-pp311-pypy311_pp80-manylinux_2_17_x86_64.whl"
    assert "import markupsafe._speedups" not in pypy["tests"]
    assert "pypy3 8.0.1" in pypy["inputs"]["interpreter"]
    for tag in ("cp314", "cp315", "pp311"):
        reused = records[("six", f"linux-x86_64-{tag}")]
        assert reused["built_on"] == "linux-x86_64-cp312"
        assert root_sha256 in reused["inputs"]["interpreter"]  # tested on that root
    wheel = farm.store / "blobs" / records[("markupsafe", "linux-x86_64-cp315")]["wheel_sha256"]
    assert machine_traces(wheel, [str(farm.build_root), str(sdist_cache), "/usr/include"]) == []


@pytest.mark.skipif(bubblewrap() is None, reason="bubblewrap cannot run here")
def test_a_pinned_tool_the_root_cannot_start_is_refused_before_the_build(
    tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # PyPI's cmake needs libstdc++, which the minimal sid root does not hold.
    farm = make_farm(tmp_path, [], cache=sdist_cache)
    url, sha = make_sdist(farm.cache, "needs-cmake", "1.0", {
        "pyproject.toml": pyproject("needs-cmake", "setuptools", "setuptools.build_meta"),
        "ext.c": "int answer(void) { return 42; }\n",
    })  # fmt: skip
    farm.write_recipe("needs-cmake", recipe_head("needs-cmake", url, sha) + """
[build]
pure = false
tools = ["cmake"]
[test]
imports = ["needs_cmake"]
""")  # fmt: skip
    assert farm.build("--platform", "linux-x86_64-cp314") != 0
    out = capsys.readouterr()
    said = out.out + out.err
    assert "build.tools[0]: the pinned cmake cannot start on roots/sid-pythons.toml" in said
    assert "libstdc++.so.6" in said and "ipwhl root-lock sid-pythons" in said
    # Nothing ran: no build environment was made, and nothing is stored.
    assert not (farm.build_root / "linux-x86_64-cp314" / "needs-cmake" / "env").exists()
    assert farm.wheels() == {}


@pytest.mark.skipif(bubblewrap() is None, reason="bubblewrap cannot run here")
def test_the_build_lock_of_pypy_is_resolved_with_pypys_markers(
    tmp_path: Path, sdist_cache: Path
) -> None:
    """pynacl's sdist asks for cffi only off PyPy: the lock `ipwhl build-lock` compiles
    for pp311 (by asking PyPy, on its root) has no cffi; CPython's have it."""
    from builder.cli import main

    farm = make_farm(tmp_path, ["pynacl"], cache=sdist_cache)
    locks = farm.root / "locks" / "pynacl"
    for lock in locks.glob("*.txt"):
        lock.unlink()
    assert main(["--root", str(farm.root), "build-lock", "--cache", str(sdist_cache)]) == 0
    names = {
        path.stem: {line.split("==")[0] for line in path.read_text().splitlines() if "==" in line}
        for path in locks.glob("*.txt")
    }
    assert sorted(p.name for p in (farm.root / "locks").iterdir()) == ["pynacl"]
    assert set(names) == {"cp311", "cp312", "cp313", "cp314", "cp315", "pp311"}
    assert "cffi" in names["cp315"] and "pycparser" in names["cp311"]
    assert "cffi" not in names["pp311"] and "pycparser" not in names["pp311"]
    assert {"setuptools", "build"} <= names["pp311"]
