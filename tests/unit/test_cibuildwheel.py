"""The cibuildwheel backend's configuration, checked against cibuildwheel's own reading."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
from packaging.version import Version

from builder.errors import CibuildwheelError
from builder.model.farm import load_farm
from builder.model.lock import Pin
from builder.model.platform import OS, BackendName, Platform
from builder.model.recipe import Recipe
from builder.pipeline.backends import cibuildwheel as cibw

ROOT = Path(__file__).resolve().parents[2]


def recipe(**overrides: object) -> Recipe:
    values: dict[str, object] = {
        "name": "demo",
        "version": Version("1.0"),
        "license": "MIT",
        "url": "https://example.invalid/demo-1.0.tar.gz",
        "sha256": "0" * 64,
        "path": Path("recipes/demo.toml"),
        "file_sha256": "1" * 64,
        "test_imports": ("demo", "demo._speedups"),
        "test_commands": (("python", "-c", "import demo; assert demo.f({'a': 1}) == 1"),),
    }
    values.update(overrides)
    return Recipe(**values)  # type: ignore[arg-type]


def platform(os_: OS, arch: str, interpreter: str, policy: str, libc: str = "glibc") -> Platform:
    return Platform(
        id=f"{os_}-{arch}-{interpreter}",
        os=os_,
        arch=arch,
        interpreter=interpreter,
        policy=policy,
        backend=BackendName.CIBUILDWHEEL,
        libc=libc,
        path=Path(f"platforms/{os_}-{arch}-{interpreter}.toml"),
        file_sha256="2" * 64,
    )


MANYLINUX_AARCH64 = platform(OS.LINUX, "aarch64", "cp312", "manylinux_2_28_aarch64")
MUSLLINUX = platform(OS.LINUX, "x86_64", "cp312", "musllinux_1_2_x86_64", libc="musl")
MACOS_ARM = platform(OS.MACOS, "arm64", "cp314", "macosx_11_0_arm64")
MACOS_X86 = platform(OS.MACOS, "x86_64", "cp39", "macosx_10_13_x86_64")
WINDOWS = platform(OS.WINDOWS, "AMD64", "cp313", "win_amd64")


def config(p: Platform, tmp_path: Path, r: Recipe | None = None) -> cibw.Config:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("build==1.6.1\n")
    return cibw.make_config(
        r or recipe(),
        p,
        constraints=constraints,
        source_date_epoch=1700000000,
        find_links=tmp_path / "links",
    )


def print_identifiers(cfg: cibw.Config, tmp_path: Path) -> list[str]:
    """What cibuildwheel itself would build with this configuration (no Docker needed)."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools"]\n')
    config_file = tmp_path / "cibuildwheel.toml"
    config_file.write_text(cibw.render(cfg))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cibuildwheel",
            "--print-build-identifiers",
            "--platform",
            cfg.platform,
            "--config-file",
            str(config_file),
            str(project),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (MANYLINUX_AARCH64, "cp312-manylinux_aarch64"),
        (MUSLLINUX, "cp312-musllinux_x86_64"),
        (MACOS_ARM, "cp314-macosx_arm64"),
        (MACOS_X86, "cp39-macosx_x86_64"),
        (WINDOWS, "cp313-win_amd64"),
    ],
)
def test_identifier_is_what_cibuildwheel_builds(p: Platform, expected: str, tmp_path: Path) -> None:
    cfg = config(p, tmp_path)
    assert cfg.identifier == expected
    assert print_identifiers(cfg, tmp_path) == [expected]


def test_every_cibuildwheel_platform_file_selects_exactly_its_identifier(tmp_path: Path) -> None:
    farm = load_farm(ROOT)
    platforms = [p for p in farm.platforms.values() if p.backend is BackendName.CIBUILDWHEEL]
    # linux-aarch64 is built here (qemu), but for cp312: no Debian suite has an arm64 3.12.
    assert {p.id for p in platforms} >= {"linux-aarch64-cp312"} | {
        f"{group}-{py}"
        for group in ("macos-arm64", "macos-x86_64", "windows-AMD64")
        for py in ("cp311", "cp312", "cp313", "cp314", "cp315")
    }
    for p in sorted(platforms, key=lambda p: p.id):
        work = tmp_path / p.id
        work.mkdir()
        cfg = config(p, work, recipe(system_packages=()))
        expected = {
            OS.LINUX: f"{p.interpreter}-manylinux_{p.arch}",
            OS.MACOS: f"{p.interpreter}-macosx_{p.arch}",
            OS.WINDOWS: f"{p.interpreter}-win_amd64",
        }[p.os]
        assert print_identifiers(cfg, work) == [expected], p.id


def test_repair_commands_per_os(tmp_path: Path) -> None:
    assert config(MANYLINUX_AARCH64, tmp_path).repair_wheel_command == (
        "auditwheel repair --plat manylinux_2_28_aarch64 -w {dest_dir} {wheel}"
    )
    assert config(MUSLLINUX, tmp_path).repair_wheel_command == (
        "auditwheel repair --plat musllinux_1_2_x86_64 -w {dest_dir} {wheel}"
    )
    assert config(MACOS_ARM, tmp_path).repair_wheel_command == (
        "delocate-wheel --require-archs {delocate_archs} -w {dest_dir} -v {wheel}"
    )
    assert config(WINDOWS, tmp_path).repair_wheel_command == (
        "delvewheel repair -w {dest_dir} {wheel}"
    )


def test_test_commands_per_os(tmp_path: Path) -> None:
    # sh on Linux and macOS; cmd.exe on Windows has no single quotes.
    posix = (
        "python -c 'import demo' && python -c 'import demo._speedups' && "
        "python -c 'import demo; assert demo.f({'\"'\"'a'\"'\"': 1}) == 1'"
    )
    assert config(MANYLINUX_AARCH64, tmp_path).test_command == posix
    assert config(MACOS_ARM, tmp_path).test_command == posix
    assert config(WINDOWS, tmp_path).test_command == (
        'python -c "import demo" && python -c "import demo._speedups" && '
        "python -c \"import demo; assert demo.f({'a': 1}) == 1\""
    )


def test_environment_and_constraints_inside_and_outside_containers(tmp_path: Path) -> None:
    linux = dict(config(MANYLINUX_AARCH64, tmp_path, recipe(env=(("DEMO_FAST", "1"),))).environment)
    assert linux["SOURCE_DATE_EPOCH"] == "1700000000"
    assert linux["UV_CONSTRAINT"] == linux["PIP_CONSTRAINT"] == "/constraints.txt"
    assert linux["DEMO_FAST"] == "1"
    assert "--strip-debug" in linux["LDFLAGS"]
    linux_test = dict(config(MANYLINUX_AARCH64, tmp_path).test_environment)
    assert linux_test["PIP_FIND_LINKS"] == "/host" + str(tmp_path / "links")
    mac = dict(config(MACOS_ARM, tmp_path).environment)
    assert mac["UV_CONSTRAINT"] == str(tmp_path / "constraints.txt")
    assert mac["MACOSX_DEPLOYMENT_TARGET"] == "11.0"
    windows = dict(config(WINDOWS, tmp_path).environment)
    assert windows["CL"] == windows["_LINK_"] == "/Brepro"


def test_rendered_file_is_the_options(tmp_path: Path) -> None:
    cfg = config(MUSLLINUX, tmp_path, recipe(config_settings=(("--build-option", "x"),)))
    table = tomllib.loads(cibw.render(cfg))["tool"]["cibuildwheel"]
    assert table["build"] == "cp312-musllinux_x86_64"
    assert table["archs"] == ["x86_64"]
    assert table["build-frontend"] == "build[uv]"
    assert table["config-settings"] == {"--build-option": "x"}
    assert table["musllinux-x86_64-image"] == "musllinux_1_2"
    assert table["dependency-versions"] == str(tmp_path / "constraints.txt")


def test_environment_values_are_escaped_for_cibuildwheel() -> None:
    assert cibw._escape('a "b" $HOME `x` C:\\y') == 'a \\"b\\" \\$HOME \\`x\\` C:\\\\y'


def test_system_packages_per_image(tmp_path: Path) -> None:
    r = recipe(system_packages=("libyaml-dev", "libffi-dev"))
    assert config(MANYLINUX_AARCH64, tmp_path, r).before_all == (
        "yum install -y libffi-devel libyaml-devel"
    )
    assert config(MUSLLINUX, tmp_path, r).before_all == "apk add --no-cache libffi-dev yaml-dev"
    assert config(MACOS_ARM, tmp_path, r).before_all == "brew install libffi libyaml"
    with pytest.raises(CibuildwheelError, match="no windows images name for 'libyaml-dev'"):
        config(WINDOWS, tmp_path, r)
    with pytest.raises(CibuildwheelError, match="no yum name for 'libfoo-dev'"):
        config(MANYLINUX_AARCH64, tmp_path, recipe(system_packages=("libfoo-dev",)))


def test_overrides_are_refused_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(CibuildwheelError, match=r"build\.overrides is not supported") as caught:
        config(WINDOWS, tmp_path, recipe(overrides=("setuptools>=80",)))
    assert "source.patches" in caught.value.fix


def test_relative_constraints_path_is_refused() -> None:
    with pytest.raises(CibuildwheelError, match="absolute"):
        cibw.make_config(
            recipe(), WINDOWS, constraints=Path("constraints.txt"), source_date_epoch=1
        )


def test_constraints_merge_our_lock_wins() -> None:
    pins = [
        Pin(name="build", version=Version("1.6.1"), hashes=("sha256:aa",), required_by=()),
        Pin(name="setuptools", version=Version("80.9.0"), hashes=("sha256:bb",), required_by=()),
    ]
    theirs = "build==1.0.0\n    # via -r x\ndelocate==0.13.0\nPyYAML[x]==6.0 ; python_version>'3'\n"
    lines = cibw.constraints_text(pins, theirs).splitlines()
    assert lines[1:] == [
        "build==1.6.1",
        "delocate==0.13.0",
        "PyYAML[x]==6.0 ; python_version>'3'",
        "setuptools==80.9.0",
    ]
    assert not any("--hash" in line for line in lines)


def test_not_buildable_here_says_why() -> None:
    assert cibw.why_not_buildable(MACOS_ARM) == (
        "cibuildwheel builds macos wheels on a macos runner"
    )


def _sdist(tmp_path: Path) -> Path:
    """A tiny C-less sdist is enough: cibuildwheel stops at the container engine."""
    path = tmp_path / "demo-1.0.tar.gz"
    files = {
        "demo-1.0/pyproject.toml": b'[build-system]\nrequires = ["setuptools"]\n'
        b'build-backend = "setuptools.build_meta"\n[project]\nname = "demo"\nversion = "1.0"\n',
        "demo-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.skipif(sys.platform != "linux", reason="the Docker message is Linux's")
def test_linux_build_without_docker_fails_plainly(tmp_path: Path) -> None:
    """No container engine here: the error says so, and nothing pretends otherwise."""
    if cibw._docker_reachable():
        pytest.skip("a Docker daemon answers here")
    log = tmp_path / "demo.log"
    with pytest.raises(CibuildwheelError, match="no container engine"):
        cibw.build_wheel(
            recipe(test_imports=(), test_commands=()),
            platform(OS.LINUX, "x86_64", "cp312", "manylinux_2_28_x86_64"),
            sdist=_sdist(tmp_path),
            pins=[],
            source_date_epoch=1700000000,
            work_dir=tmp_path / "job",
            log=log,
        )
    text = log.read_text()
    assert "--config-file " + str(tmp_path / "job" / "cibuildwheel.toml") in text
    assert (tmp_path / "job" / "cibuildwheel.toml").is_file()
