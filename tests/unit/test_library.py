"""Native library files: loaded strictly, every problem with file, field, code and fix."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from builder.errors import InputError
from builder.model.farm import load_farm
from builder.model.library import BuildSystem, load_libraries
from builder.model.tomlfields import Collector
from builder.pipeline.libraries import deterministic_tar
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


@pytest.mark.parametrize(
    ("sha", "system", "extra", "code", "field"),
    [
        ("0" * 63, "autotools", "", "L006", "source.sha256"),
        ("0" * 64, "cmake", "", "L004", "build.system"),
        ("0" * 64, "sources", 'sources = ["*.c"]', "L003", "build.sources"),
        ("0" * 64, "autotools", "jobs = 4", "L002", "build.jobs"),
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
