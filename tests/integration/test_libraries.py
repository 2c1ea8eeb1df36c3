"""Native libraries with dependencies, built by the farm with the pinned zig and cmake:
found in their own sysroot only, archived byte for byte the same from another store,
and usable by a static link that names only the top library."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from builder.errors import BuildError
from builder.model.farm import load_farm
from builder.model.library import closure, load_libraries
from builder.model.tomlfields import Collector
from builder.pipeline import libraries, toolchain

pytestmark = [pytest.mark.network, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TARGET = "x86_64-linux-gnu.2.17"
PROGRAM = r"""
#include <stdio.h>
#include <png.h>
#include <jpeglib.h>
int main(void) {
    struct jpeg_compress_struct c; struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e); jpeg_create_compress(&c); jpeg_destroy_compress(&c);
    printf("%s %s\n", png_get_libpng_ver(NULL), zlibVersion());
    return 0;
}
"""


def _provide(store: Path, sysroot: Path, cache: Path, log: Path) -> dict[str, str]:
    farm = load_farm(REPO)
    wanted = closure(farm.libraries, ["libpng", "libjpeg-turbo"])
    assert wanted == ["zlib", "libpng", "libjpeg-turbo"]  # dependencies first
    zig = toolchain.pinned_zig()
    return libraries.provide(
        [farm.libraries[name] for name in wanted],
        tools=libraries.Tools(zig=zig, zig_binary=toolchain.install(zig, cache), target=TARGET),
        cache=cache, store=store, sysroot=sysroot, log=log, sandboxed=True,
    )  # fmt: skip


def test_libraries_with_dependencies_build_alone_and_link_statically(
    tmp_path: Path, sdist_cache: Path
) -> None:
    # Two stores sharing one cache, at once: each build waits for the other's, whose work
    # directory is the cache's.
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(_provide, tmp_path / "a", tmp_path / "sysroot", sdist_cache,
                        tmp_path / "a.log")  # fmt: skip
        b = pool.submit(_provide, tmp_path / "elsewhere" / "b", tmp_path / "b-sysroot",
                        sdist_cache, tmp_path / "b.log")  # fmt: skip
        first, second = a.result(), b.result()
    archives = {p.name: p.read_bytes() for p in (tmp_path / "a" / "libraries").glob("*.tar")}
    again = {
        p.name: p.read_bytes() for p in (tmp_path / "elsewhere" / "b" / "libraries").glob("*.tar")
    }
    assert len(archives) == 3 and archives == again  # the same bytes from another store
    for data in archives.values():
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            assert {(m.mtime, m.uid, m.gid) for m in tar.getmembers()} == {(0, 0, 0)}
    # libpng's configure found the farm's zlib through pkg-config, not the host's.
    assert "checking for zlibVersion in -lz... yes" in (tmp_path / "a.log").read_text()
    pc = tmp_path / "sysroot" / "ipwhl" / "libpng" / "lib" / "pkgconfig" / "libpng.pc"
    assert pc.is_file() and not pc.is_symlink()  # a link kept as a copy of its file

    # A program that names libpng and libjpeg only: the archives on the link line bring
    # libpng's own zlib; nothing of /usr/include or /usr/lib is used.
    (tmp_path / "prog.c").write_text(PROGRAM.replace("<png.h>", "<png.h>\n#include <zlib.h>"))
    zig = toolchain.install(toolchain.pinned_zig(), sdist_cache)
    argv = [str(zig), "cc", "-target", TARGET, "-mcpu=baseline",
            *first["CPPFLAGS"].split(), str(tmp_path / "prog.c"), *first["LDFLAGS"].split(),
            "-o", str(tmp_path / "prog")]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "ZIG_GLOBAL_CACHE_DIR": str(tmp_path / "zig-cache")}  # fmt: skip
    subprocess.run(argv, check=True, env=env, cwd=tmp_path)
    out = subprocess.run([str(tmp_path / "prog")], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1.6.39", "1.2.13"]
    assert second["LDFLAGS"].split()[-4:] == [
        "-ljpeg",
        "-lpng",
        "-lpng16",
        "-lz",
    ]  # dependents first


def test_a_library_build_stops_at_its_recipes_timeout_and_leaves_nothing(
    tmp_path: Path, sdist_cache: Path
) -> None:
    """A library is built inside the job that first needs it, within that recipe's
    build.timeout (numpy's 3600 s covers OpenBLAS, whose make once took more than the
    1800 s libraries had); a step that runs out of time leaves no archive."""
    top = tmp_path / "src" / "libslow-1.0"
    top.mkdir(parents=True)
    (top / "Makefile").write_text("libs:\n\tsleep 60\n")
    tarball = tmp_path / "libslow-1.0.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(top, arcname="libslow-1.0")
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    (cache / "libraries" / sha).mkdir(parents=True)
    shutil.copyfile(tarball, cache / "libraries" / sha / "libslow_1.0.orig.tar.gz")
    (tmp_path / "libraries").mkdir()
    (tmp_path / "libraries" / "libslow.toml").write_text(
        '[library]\nname = "libslow"\nversion = "1.0"\nlicense = "MIT"\n[source]\n'
        'url = "http://deb.debian.org/debian/pool/main/libs/libslow/libslow_1.0.orig.tar.gz"\n'
        f'sha256 = "{sha}"\n[build]\nsystem = "make"\ntargets = ["libs"]\n'
    )
    collector = Collector()
    found = load_libraries(tmp_path / "libraries", collector)
    assert not collector.problems
    zig = toolchain.pinned_zig()
    store = tmp_path / "store"
    with pytest.raises(BuildError) as caught:
        libraries.provide(
            [found["libslow"]],
            tools=libraries.Tools(zig=zig, zig_binary=toolchain.install(zig, sdist_cache),
                                  target=TARGET),
            cache=cache, store=store, sysroot=tmp_path / "sysroot", log=tmp_path / "log",
            sandboxed=True, timeout=2,
        )  # fmt: skip
    assert caught.value.message.startswith("libslow: make -j") and "timed out after 2 s" in (
        caught.value.message
    )
    assert "build.timeout in the recipe" in caught.value.fix
    assert list((store / "libraries").glob("*")) == []
