"""Native libraries with dependencies, built by the farm with the pinned zig and cmake:
found in their own sysroot only, archived byte for byte the same from another store,
and usable by a static link that names only the top library."""

from __future__ import annotations

import io
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from builder.model.farm import load_farm
from builder.model.library import closure
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
