"""Platform loader: bad platform files are refused before the store is touched; the
repository's own platform files load; marker environments are right per platform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builder.errors import InputError
from builder.model.platform import OS, BackendName, ToolchainName, load_platforms
from builder.model.tomlfields import Collector
from tests.fixtures.farm_files import (
    PURE_PLATFORM,
    REAL_PLATFORMS,
    build_rejects,
    dumps,
    find_problem,
    load_real_platforms,
    make_farm,
    platform_doc,
    recipe_doc,
    write,
)

GOOD = {
    PURE_PLATFORM: platform_doc(PURE_PLATFORM, pure=True),
    "windows-AMD64-cp312": platform_doc("windows-AMD64-cp312"),
}


def farm_with(**platforms: Any) -> dict[str, Any]:
    return {**GOOD, **platforms}


BAD: list[tuple[str, dict[str, Any], str, str, str, str]] = [
    # id, platform files, code, file, field, fix
    (
        "invalid-toml",
        farm_with(**{"linux-aarch64-cp312": 'os = "linux\n'}),
        "P001",
        "linux-aarch64-cp312.toml",
        "(file)",
        "fix the TOML syntax",
    ),
    (
        "unknown-os",
        farm_with(**{"solaris-x86_64-cp312": platform_doc("solaris-x86_64-cp312")}),
        "P004",
        "solaris-x86_64-cp312.toml",
        "os",
        "use one of: linux, macos, windows",
    ),
    (
        "unknown-arch",
        farm_with(**{"linux-sparc-cp312": platform_doc("linux-sparc-cp312")}),
        "P004",
        "linux-sparc-cp312.toml",
        "arch",
        "aarch64",
    ),
    (
        "arch-of-another-os",
        farm_with(**{"macos-AMD64-cp312": platform_doc("macos-AMD64-cp312")}),
        "P004",
        "macos-AMD64-cp312.toml",
        "arch",
        "arm64, universal2, x86_64",
    ),
    (
        "unknown-interpreter",
        farm_with(**{"linux-x86_64-py312": platform_doc("linux-x86_64-py312")}),
        "P005",
        "linux-x86_64-py312.toml",
        "interpreter",
        "'cp312'",
    ),
    (
        "unknown-backend",
        farm_with(**{"linux-aarch64-cp312": platform_doc("linux-aarch64-cp312", backend="docker")}),
        "P004",
        "linux-aarch64-cp312.toml",
        "backend",
        "native, cibuildwheel",
    ),
    (
        "policy-for-another-arch",
        farm_with(
            **{
                "linux-aarch64-cp312": platform_doc(
                    "linux-aarch64-cp312", policy="manylinux_2_34_x86_64"
                )
            }
        ),
        "P006",
        "linux-aarch64-cp312.toml",
        "policy",
        "manylinux_2_28_aarch64",
    ),
    (
        "file-name-not-contents",
        farm_with(**{"linux-x86_64-cp311": platform_doc("linux-x86_64-cp313")}),
        "P007",
        "linux-x86_64-cp311.toml",
        "(file name)",
        "platforms/linux-x86_64-cp313.toml",
    ),
    (
        "unknown-key",
        farm_with(**{"linux-aarch64-cp312": platform_doc("linux-aarch64-cp312", glibc="2.34")}),
        "P002",
        "linux-aarch64-cp312.toml",
        "glibc",
        "builds-pure",
    ),
    (
        "missing-policy",
        farm_with(
            **{
                "linux-aarch64-cp312": {
                    k: v for k, v in platform_doc("linux-aarch64-cp312").items() if k != "policy"
                }
            }
        ),
        "P003",
        "linux-aarch64-cp312.toml",
        "policy",
        "add `policy = ...`",
    ),
    (
        "pypy-without-abi",
        farm_with(**{"linux-x86_64-pp311": platform_doc("linux-x86_64-pp311")}),
        "P010",
        "linux-x86_64-pp311.toml",
        "abi",
        'abi = "pypy311_ppXY"',
    ),
    (
        "pypy-abi-of-another-line",
        farm_with(**{"linux-x86_64-pp311": platform_doc("linux-x86_64-pp311", abi="pypy310_pp73")}),
        "P010",
        "linux-x86_64-pp311.toml",
        "abi",
        'abi = "pypy311_ppXY"',
    ),
    (
        "cpython-with-abi",
        farm_with(**{"linux-x86_64-cp311": platform_doc("linux-x86_64-cp311", abi="cp311")}),
        "P010",
        "linux-x86_64-cp311.toml",
        "abi",
        "remove abi",
    ),
    (
        "builds-pure-not-bool",
        farm_with(
            **{"linux-aarch64-cp312": platform_doc("linux-aarch64-cp312", **{"builds-pure": "yes"})}
        ),
        "P004",
        "linux-aarch64-cp312.toml",
        "builds-pure",
        "TOML bool",
    ),
    (
        "no-pure-platform",
        {
            "windows-AMD64-cp312": platform_doc("windows-AMD64-cp312"),
            "linux-x86_64-cp39": platform_doc("linux-x86_64-cp39"),
        },
        "P008",
        "platforms",
        "builds-pure",
        "mark exactly one platform",
    ),
    (
        "two-pure-platforms",
        farm_with(**{"linux-x86_64-cp39": platform_doc("linux-x86_64-cp39", pure=True)}),
        "P008",
        "platforms",
        "builds-pure",
        "mark exactly one platform",
    ),
]


@pytest.mark.parametrize(
    ("platforms", "code", "file", "field", "fix"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_platform_is_refused_before_the_store_is_touched(
    platforms: dict[str, Any],
    code: str,
    file: str,
    field: str,
    fix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_farm(tmp_path, {"demo-pkg": recipe_doc()}, platforms)
    err, problems = build_rejects(tmp_path, monkeypatch, capsys)
    problem = find_problem(problems, code=code, file=file, field=field)
    assert fix in problem.fix
    assert str(problem) in err
    assert f"{file}: {field}: {code} " in err


def test_two_pure_platforms_are_both_named(tmp_path: Path) -> None:
    for pid in ("linux-x86_64-cp39", "linux-x86_64-cp312"):
        write(tmp_path / f"{pid}.toml", dumps(platform_doc(pid, pure=True)))
    collector = Collector()
    load_platforms(tmp_path, collector)
    [problem] = collector.problems
    assert problem.code == "P008" and problem.file == tmp_path
    assert "2 platforms" in problem.message
    assert "linux-x86_64-cp312" in problem.message and "linux-x86_64-cp39" in problem.message


def test_the_repositorys_platform_files_load() -> None:
    platforms = load_real_platforms()
    assert len(platforms) == len(list(REAL_PLATFORMS.glob("*.toml")))
    [pure] = [p for p in platforms.values() if p.builds_pure]
    assert pure.id == PURE_PLATFORM
    linux = platforms[PURE_PLATFORM]
    assert (linux.os, linux.arch, linux.interpreter, linux.backend) == (
        OS.LINUX,
        "x86_64",
        "cp312",
        BackendName.NATIVE,
    )
    assert linux.policy == "manylinux_2_17_x86_64" and linux.libc == "glibc"
    # Every Linux platform built here compiles with the pinned toolchain, for manylinux2014.
    native = [p for p in platforms.values() if p.backend is BackendName.NATIVE]
    assert {(p.toolchain, p.policy) for p in native} == {
        (ToolchainName.ZIG, "manylinux_2_17_x86_64"),
        (ToolchainName.ZIG, "manylinux_2_17_aarch64"),
    }
    assert platforms["windows-AMD64-cp311"].backend is BackendName.CIBUILDWHEEL
    for pid, platform in platforms.items():
        assert pid == f"{platform.os}-{platform.arch}-{platform.interpreter}"


@pytest.mark.parametrize(
    ("pid", "expected"),
    [
        (
            "linux-x86_64-cp311",
            {
                "python_version": "3.11",
                "sys_platform": "linux",
                "platform_system": "Linux",
                "os_name": "posix",
                "platform_machine": "x86_64",
                "implementation_name": "cpython",
            },
        ),
        (
            "macos-arm64-cp313",
            {
                "python_version": "3.13",
                "sys_platform": "darwin",
                "platform_system": "Darwin",
                "os_name": "posix",
                "platform_machine": "arm64",
                "python_full_version": "3.13.0",
            },
        ),
        (
            "windows-AMD64-cp315",
            {
                "python_version": "3.15",
                "sys_platform": "win32",
                "platform_system": "Windows",
                "os_name": "nt",
                "platform_machine": "AMD64",
                "platform_python_implementation": "CPython",
            },
        ),
    ],
)
def test_marker_environment(pid: str, expected: dict[str, str]) -> None:
    env = load_real_platforms(pid)[pid].marker_environment()
    assert expected.items() <= env.items()


def test_pypy_platform(tmp_path: Path) -> None:
    doc = platform_doc("linux-x86_64-pp310", pure=True, abi="pypy310_pp73")
    write(tmp_path / "linux-x86_64-pp310.toml", dumps(doc))
    collector = Collector()
    platform = load_platforms(tmp_path, collector)["linux-x86_64-pp310"]
    assert not collector.problems
    assert platform.python_version == "3.10"
    assert (platform.implementation, platform.abi) == ("pypy", "pypy310_pp73")
    assert platform.marker_environment()["implementation_name"] == "pypy"
    assert platform.marker_environment()["platform_python_implementation"] == "PyPy"


@pytest.mark.parametrize(
    ("tag", "installs"),
    [
        ("pp311-pypy311_pp80-manylinux_2_17_x86_64", True),
        ("pp311-pypy311_pp80-linux_x86_64", True),
        ("py3-none-any", True),
        ("pp311-none-any", True),
        # Another PyPy release line's ABI, CPython's, the stable ABI PyPy lacks, a
        # glibc newer than the policy.
        ("pp311-pypy311_pp73-manylinux_2_17_x86_64", False),
        ("cp311-cp311-manylinux_2_17_x86_64", False),
        ("cp311-abi3-manylinux_2_17_x86_64", False),
        ("pp311-pypy311_pp80-manylinux_2_28_x86_64", False),
    ],
)
def test_the_pypy_platform_takes_its_own_wheels_only(tag: str, installs: bool) -> None:
    from builder.curation.facts import supported_tags, wheel_tags

    platform = load_real_platforms("linux-x86_64-pp311")["linux-x86_64-pp311"]
    assert bool(wheel_tags(f"x-1.0-{tag}.whl") & supported_tags(platform)) is installs


def test_windows_x86_platform_loads(tmp_path: Path) -> None:
    write(
        tmp_path / "windows-x86-cp312.toml",
        dumps(platform_doc("windows-x86-cp312", pure=True, policy="win32")),
    )
    collector = Collector()
    platforms = load_platforms(tmp_path, collector)
    if collector.problems:
        raise InputError(collector.problems)
    assert platforms["windows-x86-cp312"].policy == "win32"
