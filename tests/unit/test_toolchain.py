"""The pinned zig toolchain as values: its target, its wrappers, its pin."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from builder.errors import DataError, InterpreterNotFound
from builder.model.platform import ToolchainName, load_platforms
from builder.model.tomlfields import Collector
from builder.pipeline import toolchain
from tests.fixtures.farm_files import dumps, platform_doc, write


def _platform(tmp_path: Path, pid: str, **extra: object) -> object:
    directory = tmp_path / pid  # one platform per directory, so it is the pure one
    write(directory / f"{pid}.toml", dumps(platform_doc(pid, pure=True, **extra)))
    collector = Collector()
    found = load_platforms(directory, collector)
    assert not collector.problems, collector.problems
    return found[pid]


def test_the_target_comes_from_the_manylinux_policy(tmp_path: Path) -> None:
    x86 = _platform(tmp_path, "linux-x86_64-cp312", policy="manylinux_2_17_x86_64")
    arm = _platform(tmp_path, "linux-aarch64-cp313", policy="manylinux_2_28_aarch64")
    assert toolchain.target(x86) == "x86_64-linux-gnu.2.17"  # type: ignore[arg-type]
    assert toolchain.target(arm) == "aarch64-linux-gnu.2.28"  # type: ignore[arg-type]
    musl = _platform(tmp_path, "linux-x86_64-cp311", policy="musllinux_1_2_x86_64", libc="musl")
    with pytest.raises(DataError, match="not a manylinux_X_Y policy"):
        toolchain.target(musl)  # type: ignore[arg-type]


def test_a_platform_names_its_toolchain_and_a_wrong_name_is_refused(tmp_path: Path) -> None:
    assert _platform(tmp_path, "linux-x86_64-cp312").toolchain is ToolchainName.HOST  # type: ignore[attr-defined]
    assert (
        _platform(tmp_path, "linux-x86_64-cp313", toolchain="zig").toolchain  # type: ignore[attr-defined]
        is ToolchainName.ZIG
    )
    write(tmp_path / "bad" / "linux-x86_64-cp39.toml",
          dumps(platform_doc("linux-x86_64-cp39", pure=True, toolchain="gcc")))  # fmt: skip
    collector = Collector()
    load_platforms(tmp_path / "bad", collector)
    (problem,) = collector.problems
    assert (problem.code, problem.field) == ("P004", "toolchain") and "zig" in problem.fix


def test_the_wrappers_pin_target_and_cpu_and_drop_what_zig_refuses(tmp_path: Path) -> None:
    scripts = toolchain.wrapper_scripts("/opt/zig/zig", "x86_64-linux-gnu.2.17")
    assert set(scripts) == {"zig-cc", "zig-c++", "zig-ar", "zig-ranlib"}
    assert '"/opt/zig/zig" cc -target x86_64-linux-gnu.2.17 -mcpu=baseline' in scripts["zig-cc"]
    assert '"/opt/zig/zig" ar  "$@"' in scripts["zig-ar"]
    # Run the real script with `echo` standing in for zig: the argument walk is shell.
    toolchain.write_wrappers(tmp_path, toolchain.wrapper_scripts("echo", "t"))
    out = subprocess.run(
        [str(tmp_path / "bin" / "zig-cc"), "-shared", "-Wl,-Bsymbolic-functions", "a b.c"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out == "cc -target t -mcpu=baseline -shared a b.c\n"
    env = toolchain.compiler_env(tmp_path)
    assert env["LDSHARED"] == f"{tmp_path}/bin/zig-cc -shared"  # never the interpreter's
    assert env["ZIG_GLOBAL_CACHE_DIR"].startswith(str(tmp_path))


def test_the_pin_is_data_and_a_machine_without_one_is_told_so() -> None:
    zig = toolchain.pinned_zig("x86_64")
    assert zig.version == "0.17.0" and len(zig.sha256) == 64
    assert zig.describe("x86_64-linux-gnu.2.17")["zig-sha256"] == zig.sha256
    with pytest.raises(InterpreterNotFound, match="no pinned zig for a s390x"):
        toolchain.pinned_zig("s390x")


@pytest.mark.parametrize(
    "line",
    [
        "probe/_speedups.c:2:10: fatal error: no_such_library.h: No such file or directory",
        "probe/_speedups.c:2:10: fatal error: 'no_such_library.h' file not found",  # clang
    ],
)
def test_a_dropped_extension_names_the_missing_header_in_gccs_and_clangs_words(
    line: str,
) -> None:
    from builder.pipeline.build import dropped_extension_reason

    log = f"building 'probe._speedups' extension\n{line}\nfalling back to pure Python\n"
    assert dropped_extension_reason(log) == "the header no_such_library.h is missing"
