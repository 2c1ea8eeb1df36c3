"""Native library files: loaded strictly, every problem with file, field, code and fix."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from builder.errors import InputError
from builder.model.farm import load_farm
from builder.model.library import BuildSystem, closure, load_libraries
from builder.model.tomlfields import Collector
from builder.pipeline import toolchain
from builder.pipeline.backends import backend_for
from builder.pipeline.collection import current
from builder.pipeline.inputs import input_hash
from builder.pipeline.libraries import (
    deterministic_tar,
    finding,
    library_hash,
    library_inputs,
    pkg_config_file,
)
from builder.pipeline.store import Record, Store
from tests.fixtures.farm_files import make_farm, platform_doc, recipe_doc, write

REPO = Path(__file__).resolve().parents[2]

GOOD = """
[library]
name = "libdemo"
version = "1.0"
license = "MIT"
[source]
url = "http://deb.debian.org/debian/pool/main/libd/libdemo/libdemo_1.0.orig.tar.gz"
sha256 = "{sha}"
[build]
system = "{system}"
{extra}
"""


def _load(tmp_path: Path, text: str) -> tuple[dict[str, object], list[object]]:
    write(tmp_path / "libraries" / "libdemo.toml", text)
    collector = Collector()
    found = load_libraries(tmp_path / "libraries", collector)
    return dict(found), list(collector.problems)


def test_the_repositorys_libraries_load() -> None:
    collector = Collector()
    found = load_libraries(REPO / "libraries", collector)
    assert not collector.problems
    assert found["libyaml"].system is BuildSystem.SOURCES
    assert found["libffi"].system is BuildSystem.AUTOTOOLS
    # OpenBLAS's Makefile: the CPU is named, never detected on the build machine.
    openblas = found["openblas"]
    assert openblas.system is BuildSystem.MAKE and openblas.targets == ("libs",)
    assert "TARGET=PRESCOTT" in openblas.configure and "DYNAMIC_ARCH=1" in openblas.configure


@pytest.mark.parametrize(
    ("sha", "system", "extra", "code", "field"),
    [
        ("0" * 63, "autotools", "", "L006", "source.sha256"),
        ("0" * 64, "meson", "", "L004", "build.system"),
        ("0" * 64, "sources", 'sources = ["*.c"]', "L003", "build.sources"),
        ("0" * 64, "autotools", "jobs = 4", "L002", "build.jobs"),
        ("0" * 64, "autotools", 'depends = ["libnope"]', "L007", "build.depends[0]"),
    ],
)
def test_a_bad_library_file_is_refused_naming_the_field(
    tmp_path: Path, sha: str, system: str, extra: str, code: str, field: str
) -> None:
    found, problems = _load(tmp_path, GOOD.format(sha=sha, system=system, extra=extra))
    assert found == {}
    assert [(p.code, p.field) for p in problems] == [(code, field)]  # type: ignore[attr-defined]
    assert all(p.fix for p in problems)  # type: ignore[attr-defined]


def test_a_recipe_naming_an_unknown_library_is_refused(tmp_path: Path) -> None:
    doc = recipe_doc("demo-pkg", libraries=["libnope"])
    make_farm(tmp_path, {"demo-pkg": doc}, {"linux-x86_64-cp312": platform_doc(
        "linux-x86_64-cp312", pure=True)})  # fmt: skip
    with pytest.raises(InputError) as raised:
        load_farm(tmp_path)
    (problem,) = raised.value.problems
    assert (problem.code, problem.field) == ("R019", "build.libraries[0]")
    assert "libraries/libnope.toml" in problem.fix


def test_a_library_archive_names_no_time_owner_or_build_path(tmp_path: Path) -> None:
    prefix = tmp_path / "destdir" / "ipwhl" / "libdemo"
    write(prefix / "include" / "demo.h", "int demo(void);\n")
    write(prefix / "lib" / "libdemo.a", "!<arch>\n")
    write(prefix / "lib" / "libdemo.la", "libdir='/tmp/somewhere'\n")  # left out
    write(prefix / "share" / "doc" / "README", "docs\n")  # left out
    first = deterministic_tar(prefix, "libdemo")
    (prefix / "include" / "demo.h").touch()
    assert deterministic_tar(prefix, "libdemo") == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "ipwhl/libdemo/include/demo.h",
        "ipwhl/libdemo/lib/libdemo.a",
    ]
    assert {(m.mtime, m.uid, m.gid, m.mode) for m in members} == {(0, 0, 0, 0o644)}


def _with_source(line: str) -> str:
    """A good library file with one more line in its [source] table."""
    return GOOD.format(sha="0" * 64, system="autotools", extra="").replace(
        "[build]", f"{line}\n[build]"
    )


def test_a_subdir_that_leaves_the_tarball_is_refused(tmp_path: Path) -> None:
    found, problems = _load(tmp_path, _with_source('subdir = "../elsewhere"'))
    assert found == {}
    assert [(p.code, p.field) for p in problems] == [("L006", "source.subdir")]  # type: ignore[attr-defined]


def _library(tmp_path: Path, name: str, depends: list[str]) -> None:
    text = GOOD.format(sha="0" * 64, system="autotools", extra=f"depends = {depends!r}")
    write(tmp_path / "libraries" / f"{name}.toml", text.replace('"libdemo"', f'"{name}"'))


def test_library_dependencies_come_first_and_a_cycle_is_refused(tmp_path: Path) -> None:
    _library(tmp_path, "zlib", [])
    _library(tmp_path, "libpng", ["zlib"])
    _library(tmp_path, "freetype", ["zlib", "libpng"])
    collector = Collector()
    found = load_libraries(tmp_path / "libraries", collector)
    assert not collector.problems
    assert closure(found, ["freetype"]) == ["zlib", "libpng", "freetype"]
    assert closure(found, ["libpng", "zlib"]) == ["zlib", "libpng"]
    _library(tmp_path, "zlib", ["freetype"])
    collector = Collector()
    load_libraries(tmp_path / "libraries", collector)
    assert {(p.code, p.file.name) for p in collector.problems} == {
        ("L008", "freetype.toml"),
        ("L008", "libpng.toml"),
        ("L008", "zlib.toml"),
    }


def test_an_archive_keeps_links_inside_the_prefix_as_files_and_named_programs(
    tmp_path: Path,
) -> None:
    prefix = tmp_path / "destdir" / "ipwhl" / "libpng"
    write(prefix / "lib" / "pkgconfig" / "libpng16.pc", "Name: libpng\n")
    (prefix / "lib" / "pkgconfig" / "libpng.pc").symlink_to("libpng16.pc")
    write(tmp_path / "outside.pc", "Name: host\n")
    (prefix / "lib" / "pkgconfig" / "host.pc").symlink_to(tmp_path / "outside.pc")
    write(prefix / "bin" / "pg_config", "#!/bin/sh\n")
    write(prefix / "bin" / "psql", "#!/bin/sh\n")  # not named: left out
    with tarfile.open(
        fileobj=io.BytesIO(deterministic_tar(prefix, "libpng", ("pg_config",)))
    ) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == [
            "ipwhl/libpng/bin/pg_config",
            "ipwhl/libpng/lib/pkgconfig/libpng.pc",
            "ipwhl/libpng/lib/pkgconfig/libpng16.pc",
        ]
        linked = tar.extractfile(members["ipwhl/libpng/lib/pkgconfig/libpng.pc"])
        assert linked is not None and linked.read() == b"Name: libpng\n"
    assert members["ipwhl/libpng/bin/pg_config"].mode == 0o755


def test_the_pkg_config_file_of_a_sources_library_is_found_in_the_sysroot(
    tmp_path: Path,
) -> None:
    collector = Collector()
    zlib = load_libraries(REPO / "libraries", collector)["zlib"]
    pc = tmp_path / "sysroot" / "ipwhl" / "zlib" / "lib" / "pkgconfig" / "zlib.pc"
    write(pc, pkg_config_file(zlib))
    write(tmp_path / "sysroot" / "ipwhl" / "zlib" / "include" / "zlib.h", "")
    env = finding(tmp_path / "sysroot", ["zlib"])
    out = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "zlib"],
        env={"PATH": "/usr/bin:/bin", **{k: v for k, v in env.items() if k.startswith("PKG")}},
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert out == [
        f"-I{tmp_path}/sysroot/ipwhl/zlib/include",
        f"-L{tmp_path}/sysroot/ipwhl/zlib/lib",
        "-lz",
    ]


def test_a_wheel_linking_a_changed_library_is_no_longer_current(tmp_path: Path) -> None:
    """Seen: two records of cffi, before and after libffi's build changed, were both
    taken as current, and the store could not say which wheel was the set's."""
    platform = "linux-x86_64-cp312"
    root = make_farm(
        tmp_path / "farm",
        {"demo-ext": recipe_doc("demo-ext", pure=False, libraries=["libdemo"])},
        {platform: platform_doc(platform, pure=True, toolchain="zig",
                                policy="manylinux_2_17_x86_64")},
    )  # fmt: skip
    write(root / "libraries" / "libdemo.toml",
          GOOD.format(sha="0" * 64, system="autotools", extra=""))  # fmt: skip
    farm = load_farm(root)
    recipe, plat = farm.recipes["demo-ext"], farm.platforms[platform]
    store = Store(root=tmp_path / "store")
    now = library_hash(farm.libraries, "libdemo", toolchain.pinned_zig(), "x86_64-linux-gnu.2.17")
    described = backend_for(plat).toolchain(recipe, plat, farm.libraries)
    assert described["library libdemo"] == now

    def record(library: str, wheel: bytes, **other: str) -> Record:
        (tmp_path / "wheel").write_bytes(wheel)
        inputs = {"recipe": recipe.file_sha256, "platform": plat.file_sha256, "kind": "build",
                  "sdist": recipe.sha256, "patches": {}, "build-requirements": [],
                  "toolchain": {**described, "library libdemo": library, **other}}  # fmt: skip
        made = Record(project="demo-ext", version="1.0.0", platform=platform,
                      input_hash=input_hash(inputs), inputs=inputs, wheel="demo_ext.whl",
                      wheel_sha256=store.put_file(tmp_path / "wheel"), wheel_size=len(wheel),
                      built_on=platform, network_isolated=True, tests=())  # fmt: skip
        store.put_record(made)
        return made

    record("f" * 64, b"linked the old libdemo")
    # Any other part of the toolchain counts too (seen: pillow's aarch64 wheels from
    # before and after a root's glibc headers were hidden).
    record(now, b"built with an older zig", zig="0.16.0")
    record(now, b"built seeing the root's headers", **{"root-headers": "all"})
    new = record(now, b"linked the current libdemo")
    assert current(farm, store).wheels[("demo-ext", platform)] == new
    # Changing the library file makes the newer record stale too.
    (root / "libraries" / "libdemo.toml").write_text(
        GOOD.format(sha="1" * 64, system="autotools", extra="")
    )
    missing = current(load_farm(root), store).missing
    assert missing[("demo-ext", platform)].startswith("not built from the current")


def test_a_library_patch_is_an_input_and_a_missing_one_is_refused(tmp_path: Path) -> None:
    found, problems = _load(tmp_path, _with_source('patches = ["fix.patch"]'))
    assert found == {}
    assert [(p.code, p.field) for p in problems] == [("L009", "source.patches[0]")]  # type: ignore[attr-defined]
    assert "libraries/patches/libdemo/" in problems[0].fix  # type: ignore[attr-defined]

    def hash_now() -> str:
        collector = Collector()
        libraries = load_libraries(tmp_path / "libraries", collector)
        assert not collector.problems
        return library_hash(libraries, "libdemo", toolchain.pinned_zig(), "x86_64-linux-gnu.2.17")

    write(tmp_path / "libraries" / "patches" / "libdemo" / "fix.patch", "one\n")
    first = hash_now()
    write(tmp_path / "libraries" / "patches" / "libdemo" / "fix.patch", "two\n")
    assert hash_now() != first
    # Without patches, the inputs have no `patches` key at all: the hashes of the
    # libraries already built do not move.
    write(tmp_path / "libraries" / "libdemo.toml", GOOD.format(sha="0" * 64, system="autotools",
                                                              extra=""))  # fmt: skip
    collector = Collector()
    libraries = load_libraries(tmp_path / "libraries", collector)
    inputs = library_inputs(
        libraries["libdemo"], toolchain.pinned_zig(), "x86_64-linux-gnu.2.17", {}
    )
    assert "patches" not in inputs
