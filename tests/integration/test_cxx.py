"""C++ on the pinned toolchain: zig links LLVM's libc++ statically into each extension.

That is safe next to PyPI's C++ wheels, which use the system's libstdc++, only if each
runtime keeps its ABI to itself. Shown here in one interpreter: a pybind11 extension
compiled and linked by the farm's own wrappers, PyPI's greenlet (C++ exceptions on
libstdc++) and PyPI's mapbox-earcut (nanobind, libstdc++), with exceptions thrown and
caught on both sides, in either import order, and with libstdc++ in the global scope.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import zipfile
from pathlib import Path

import pytest

from builder.model.farm import load_farm
from builder.pipeline import toolchain
from builder.pipeline.elfcheck import cxx_runtime_symbols
from builder.pipeline.interpreters import find_interpreter

pytestmark = [pytest.mark.network, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = "linux-x86_64-cp312"
# PyPI's wheels, built with g++ against libstdc++ (pinned so the test means the same
# thing tomorrow), and pybind11's headers.
PYPI = ("greenlet==3.5.6", "mapbox-earcut==2.1.0", "numpy==2.3.5", "pybind11==3.1.0")

SOURCE = r"""
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
namespace py = pybind11;

struct Oops : std::exception {
    const char* what() const noexcept override { return "oops from libc++"; }
};

PYBIND11_MODULE(zigmix, m) {
    py::register_exception<Oops>(m, "Oops");
    m.def("throw_runtime", [](const std::string& s) { throw std::runtime_error(s); });
    m.def("throw_oops", []() { throw Oops(); });
    m.def("out_of_range", [](int n) {
        try { return std::vector<int>(n).at(n); }
        catch (const std::exception& e) { return -static_cast<int>(std::string(e.what()).size()); }
    });
    m.def("call", [](py::function f) { return f(); });
    m.def("catch_python", [](py::function f) {
        try { f(); return std::string("nothing"); }
        catch (py::error_already_set& e) { return std::string("caught ") + e.what(); }
    });
    m.def("words", [](const std::string& s) {
        std::istringstream in(s); std::vector<std::string> out; std::string w;
        while (in >> w) out.push_back(w);
        return out;
    });
}
"""

SCRIPT = r"""
import os, sys
mode, order = sys.argv[1], sys.argv[2].split(",")
if mode == "global":  # every library's symbols, libstdc++'s too, in the global scope
    sys.setdlopenflags(os.RTLD_GLOBAL | os.RTLD_NOW)
modules = {name: __import__(name) for name in order}
greenlet, numpy, zigmix = modules["greenlet"], modules["numpy"], modules["zigmix"]
earcut = modules["mapbox_earcut"]

def raiser():
    raise KeyError("from python")

for _ in range(3):  # interleaved, so that each runtime runs after the other
    try:
        zigmix.throw_runtime("thrown by libc++")
    except RuntimeError as e:
        assert str(e) == "thrown by libc++", e
    try:
        zigmix.throw_oops()
    except zigmix.Oops as e:
        assert str(e) == "oops from libc++", e
    assert zigmix.out_of_range(3) < 0
    try:
        zigmix.call(raiser)
    except KeyError:
        pass
    assert zigmix.catch_python(raiser).startswith("caught KeyError"), zigmix.catch_python(raiser)
    assert zigmix.words(" a bb  ccc ") == ["a", "bb", "ccc"]

    def body():
        try:
            greenlet.getcurrent().parent.switch("ready")
        except ValueError as e:
            return f"got {e}"
    g = greenlet.greenlet(body)
    assert g.switch() == "ready"
    assert g.throw(ValueError("v")) == "got v"  # libstdc++'s exceptions inside greenlet
    inner = greenlet.greenlet(lambda: zigmix.catch_python(raiser))  # libc++ on its stack
    assert inner.switch().startswith("caught KeyError")

    square = numpy.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=numpy.float64)
    triangles = earcut.triangulate_float64(square, numpy.array([4], dtype=numpy.uint32))
    assert len(triangles) == 6, triangles
    try:
        earcut.triangulate_float64("not an array", None)
    except TypeError:
        pass
print("ok", mode, ",".join(order))
"""


def _venv(tmp_path: Path, python: str) -> Path:
    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "-q", "-p", python, str(venv)], check=True)
    subprocess.run(["uv", "pip", "install", "-q", "-p", str(venv / "bin" / "python"),
                    "--only-binary", ":all:", "--no-deps", *PYPI], check=True)  # fmt: skip
    return venv / "bin" / "python"


def _build_with_the_farms_wrappers(tmp_path: Path, venv_python: Path, cache: Path) -> Path:
    """zigmix, compiled and linked as the farm's native backend would: its wrappers,
    its LDCXXSHARED, the platform's target."""
    platform = load_farm(ROOT).platforms[PLATFORM]
    zig = toolchain.install(toolchain.pinned_zig(), cache)
    tools = tmp_path / "toolchain"
    toolchain.write_wrappers(tools, toolchain.wrapper_scripts(str(zig), toolchain.target(platform)))
    env = toolchain.compiler_env(tools)
    paths = subprocess.run(
        [str(venv_python), "-c", "import sysconfig, pybind11; "
         "print(sysconfig.get_paths()['include']); print(pybind11.get_include()); "
         "print(sysconfig.get_config_var('EXT_SUFFIX'))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    python_include, pybind11_include, suffix = paths
    source = tmp_path / "zigmix.cpp"
    source.write_text(SOURCE)
    out = tmp_path / "site" / f"zigmix{suffix}"
    out.parent.mkdir()
    argv = [*shlex.split(env["LDCXXSHARED"]), "-O2", "-fPIC", "-std=c++17", f"-I{python_include}",
            f"-I{pybind11_include}", str(source), "-o", str(out)]  # fmt: skip
    subprocess.run(argv, check=True, env={**os.environ, **env}, timeout=1200)
    return out


def test_libcxx_extensions_live_next_to_libstdcxx_wheels_from_pypi(
    tmp_path: Path, sdist_cache: Path
) -> None:
    interpreter = find_interpreter("3.12")
    assert interpreter is not None, "CPython 3.12 is this platform's interpreter"
    python = _venv(tmp_path, str(interpreter.path))
    extension = _build_with_the_farms_wrappers(tmp_path, python, sdist_cache)

    needed = subprocess.run(["readelf", "-d", str(extension)], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    assert "libstdc++" not in needed and "libc++" not in needed  # the runtime is inside
    wheel = tmp_path / "zigmix.whl"  # what `ipwhl check` reads (C072)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(extension, extension.name)
    assert cxx_runtime_symbols(wheel) == []

    site = str(extension.parent)
    orders = ["greenlet,numpy,mapbox_earcut,zigmix", "zigmix,greenlet,numpy,mapbox_earcut"]
    for mode in ("local", "global"):
        for order in orders:
            result = subprocess.run(
                [str(python), "-c", SCRIPT, mode, order], capture_output=True, text=True,
                check=False, env={**os.environ, "PYTHONPATH": site}, timeout=300,
            )  # fmt: skip
            assert result.returncode == 0, (mode, order, result.stdout, result.stderr)
            assert result.stdout.strip() == f"ok {mode} {order}"


def test_a_leaked_static_libstdcxx_is_what_the_check_finds(tmp_path: Path) -> None:
    """The other side, so that the check above can fail: g++ linking libstdc++
    statically with default visibility exports the runtime's ABI (`__cxa_*`,
    `std::exception`'s typeinfo), and the same code against the shared libstdc++ does
    not count."""
    source = tmp_path / "leak.cpp"
    source.write_text(
        "#include <stdexcept>\n#include <string>\n"
        'extern "C" int f(int x) { try { if (x) throw std::runtime_error(std::to_string(x));'
        " return 0; } catch (const std::exception& e) { return 1; } }\n"
    )
    found = {}
    for label, flags in (("static", ["-static-libstdc++"]), ("shared", [])):
        library = tmp_path / f"{label}.so"
        subprocess.run(["g++", "-shared", "-fPIC", *flags, str(source), "-o", str(library)],
                       check=True)  # fmt: skip
        wheel = tmp_path / f"{label}.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.write(library, library.name)
        found[label] = cxx_runtime_symbols(wheel)
    assert "static.so: exports __cxa_throw" in found["static"]
    assert "static.so: exports _ZTISt9exception" in found["static"]
    assert found["shared"] == []
