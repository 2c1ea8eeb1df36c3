"""normalize_wheel: equal content gives equal bytes; RECORD is rebuilt and right."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import stat
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import BuildError
from builder.pipeline.normalize import ZIP_EPOCH, normalize_wheel

WHEEL_NAME = "demo_pkg-1.0.0-cp312-cp312-manylinux_2_34_x86_64.whl"
DIST = "demo_pkg-1.0.0.dist-info"
CONTENT: dict[str, tuple[bytes, bool]] = {  # name -> (data, executable)
    "demo_pkg/__init__.py": (b"from demo_pkg._core import add\n", False),
    "demo_pkg/_core.cpython-312-x86_64-linux-gnu.so": (b"\x7fELF" + bytes(range(256)) * 8, True),
    "demo_pkg/data/table.csv": (b"a,b\n1,2\n" * 50, False),
    "demo_pkg-1.0.0.data/scripts/demo-tool": (b"#!python\nprint('hi')\n", True),
    f"{DIST}/METADATA": (b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0.0\n", False),
    f"{DIST}/WHEEL": (b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n", False),
    f"{DIST}/entry_points.txt": (b"[console_scripts]\ndemo = demo_pkg:main\n", False),
}


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def record_for(content: dict[str, tuple[bytes, bool]]) -> bytes:
    rows = [f"{n},{record_hash(d)},{len(d)}" for n, (d, _) in content.items()]
    return ("\n".join([*rows, f"{DIST}/RECORD,,"]) + "\n").encode()


def write_wheel(
    path: Path,
    content: dict[str, tuple[bytes, bool]],
    *,
    order: list[str] | None = None,
    date_time: tuple[int, int, int, int, int, int] = (2024, 5, 6, 7, 8, 10),
    file_mode: int = 0o644,
    compression: int = zipfile.ZIP_DEFLATED,
    level: int | None = None,
    directories: bool = False,
    record: bytes | None = None,
) -> Path:
    files = dict(content)
    files[f"{DIST}/RECORD"] = (record if record is not None else record_for(content), False)
    names = order or list(files)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=compression, compresslevel=level) as archive:
        if directories:
            for d in sorted({n.rsplit("/", 1)[0] + "/" for n in names}):
                info = zipfile.ZipInfo(d, date_time=date_time)
                info.external_attr = (stat.S_IFDIR | 0o775) << 16
                archive.writestr(info, b"")
        for name in names:
            data, executable = files[name]
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = compression
            info.create_system = 3
            mode = (file_mode | 0o111) if executable else file_mode
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, data)
    return path


def test_same_content_gives_identical_bytes(tmp_path: Path) -> None:
    a = write_wheel(
        tmp_path / "a" / WHEEL_NAME,
        CONTENT,
        file_mode=0o664,
        compression=zipfile.ZIP_STORED,
        date_time=(2020, 1, 2, 3, 4, 6),
    )
    names = [*CONTENT, f"{DIST}/RECORD"]
    b = write_wheel(
        tmp_path / "b" / WHEEL_NAME,
        CONTENT,
        order=names[::-1],
        file_mode=0o600,
        compression=zipfile.ZIP_DEFLATED,
        level=9,
        date_time=(2023, 12, 31, 23, 59, 58),
        directories=True,
    )
    assert a.read_bytes() != b.read_bytes()
    out_a = normalize_wheel(a, tmp_path / "a", source_date_epoch=1700000000)
    out_b = normalize_wheel(b, tmp_path / "b", source_date_epoch=1700000000)
    assert out_a.name == out_b.name == WHEEL_NAME
    assert out_a.read_bytes() == out_b.read_bytes()
    assert not list(tmp_path.rglob(".part-*"))
    # Normalizing is idempotent.
    (tmp_path / "again").mkdir()
    again = normalize_wheel(out_a, tmp_path / "again", source_date_epoch=1700000000)
    assert again.read_bytes() == out_a.read_bytes()


def test_record_is_regenerated_and_correct(tmp_path: Path) -> None:
    # The input RECORD lists rows in another order and without sizes: still consistent.
    rows = [f"{n},{record_hash(d)}," for n, (d, _) in reversed(CONTENT.items())]
    record = ("\r\n".join([f"{DIST}/RECORD,,", *rows]) + "\r\n").encode()
    wheel = write_wheel(tmp_path / "in" / WHEEL_NAME, CONTENT, record=record)
    out = normalize_wheel(wheel, tmp_path, source_date_epoch=1700000000)
    with zipfile.ZipFile(out) as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        rows = list(csv.reader(io.StringIO(archive.read(f"{DIST}/RECORD").decode())))
        data = {n: archive.read(n) for n in names}
    assert names[-1] == f"{DIST}/RECORD"
    # payload first (sorted), then .dist-info (sorted), RECORD last
    payload = [n for n in names if not n.startswith(f"{DIST}/")]
    meta = [n for n in names[:-1] if n.startswith(f"{DIST}/")]
    assert names == [*sorted(payload), *sorted(meta), f"{DIST}/RECORD"]
    assert {r[0] for r in rows} == set(names) and len(rows) == len(names)
    for name, digest, size in rows:
        if name == f"{DIST}/RECORD":
            assert (digest, size) == ("", "")
            continue
        assert digest == record_hash(data[name])
        assert int(size) == len(data[name])
        assert data[name] == CONTENT[name][0]


def test_timestamps_modes_and_compression_are_fixed(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "in" / WHEEL_NAME, CONTENT, file_mode=0o664)
    out = normalize_wheel(wheel, tmp_path, source_date_epoch=1700000000)
    with zipfile.ZipFile(out) as archive:
        for info in archive.infolist():
            assert info.date_time == time.gmtime(1700000000)[:6]
            assert info.compress_type == zipfile.ZIP_DEFLATED
            mode = info.external_attr >> 16
            assert stat.S_ISREG(mode)
            executable = CONTENT.get(info.filename, (b"", False))[1]
            assert stat.S_IMODE(mode) == (0o755 if executable else 0o644), info.filename


def test_source_date_epoch_before_1980_is_clamped(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "in" / WHEEL_NAME, CONTENT)
    out = normalize_wheel(wheel, tmp_path, source_date_epoch=0)
    with zipfile.ZipFile(out) as archive:
        assert {i.date_time for i in archive.infolist()} == {time.gmtime(ZIP_EPOCH)[:6]}


def test_record_hash_mismatch_is_a_build_error(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "in" / WHEEL_NAME, CONTENT)
    # Change one file's bytes after RECORD was written for the original bytes.
    with zipfile.ZipFile(wheel) as src:
        entries = [(i, src.read(i)) for i in src.infolist()]
    bad = tmp_path / "bad" / WHEEL_NAME
    bad.parent.mkdir()
    with zipfile.ZipFile(bad, "w") as dst:
        for info, data in entries:
            dst.writestr(
                info, b"evil = True\n" if info.filename == "demo_pkg/__init__.py" else data
            )
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(BuildError) as caught:
        normalize_wheel(bad, out_dir, source_date_epoch=1700000000)
    assert "demo_pkg/__init__.py" in str(caught.value) and "RECORD" in str(caught.value)
    assert "rebuild" in caught.value.fix
    assert list(out_dir.iterdir()) == []


def test_missing_record_or_wheel_file_is_a_build_error(tmp_path: Path) -> None:
    no_wheel = {n: v for n, v in CONTENT.items() if n != f"{DIST}/WHEEL"}
    wheel = write_wheel(tmp_path / "a" / WHEEL_NAME, no_wheel)
    with pytest.raises(BuildError, match=r"has no \.dist-info/WHEEL"):
        normalize_wheel(wheel, tmp_path, source_date_epoch=1700000000)
    wheel = tmp_path / "b" / WHEEL_NAME
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, (data, _) in CONTENT.items():
            archive.writestr(name, data)
    with pytest.raises(BuildError, match="RECORD"):
        normalize_wheel(wheel, tmp_path, source_date_epoch=1700000000)


def test_record_quotes_file_names_with_commas(tmp_path: Path) -> None:
    content = {**CONTENT, "demo_pkg/data/a,b.txt": (b"comma\n", False)}
    rows = [[n, record_hash(d), str(len(d))] for n, (d, _) in content.items()]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([*rows, [f"{DIST}/RECORD", "", ""]])
    wheel = write_wheel(tmp_path / "in" / WHEEL_NAME, content, record=buffer.getvalue().encode())
    out = normalize_wheel(wheel, tmp_path, source_date_epoch=1700000000)
    with zipfile.ZipFile(out) as archive:
        parsed = list(csv.reader(io.StringIO(archive.read(f"{DIST}/RECORD").decode())))
    assert all(len(row) == 3 for row in parsed)
    assert "demo_pkg/data/a,b.txt" in {row[0] for row in parsed}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order=st.permutations([*CONTENT, f"{DIST}/RECORD"]),
    date_time=st.tuples(
        st.integers(1980, 2100),
        st.integers(1, 12),
        st.integers(1, 28),
        st.integers(0, 23),
        st.integers(0, 59),
        st.integers(0, 29).map((2).__mul__),
    ),
    file_mode=st.sampled_from([0o600, 0o644, 0o664, 0o444, 0o666]),
    compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2]),
    directories=st.booleans(),
)
def test_any_packing_of_the_same_content_normalizes_to_the_same_bytes(
    tmp_path: Path,
    order: list[str],
    date_time: tuple[int, int, int, int, int, int],
    file_mode: int,
    compression: int,
    directories: bool,
) -> None:
    reference_dir = tmp_path / "reference"
    if not reference_dir.exists():
        write_wheel(reference_dir / "in" / WHEEL_NAME, CONTENT)
        normalize_wheel(reference_dir / "in" / WHEEL_NAME, reference_dir, source_date_epoch=1)
    wheel = write_wheel(
        tmp_path / "case" / WHEEL_NAME,
        CONTENT,
        order=order,
        date_time=date_time,
        file_mode=file_mode,
        compression=compression,
        directories=directories,
    )
    out = normalize_wheel(wheel, tmp_path / "case", source_date_epoch=1)
    assert out.read_bytes() == (reference_dir / WHEEL_NAME).read_bytes()


def test_a_pure_wheel_built_on_pypy_is_retagged_for_pypy_alone(tmp_path: Path) -> None:
    """pure-on-pypy: the fallback wheel names its interpreter, keeps a true RECORD, and
    normalizes like any other wheel."""
    from packaging.utils import parse_wheel_filename

    from builder.pipeline.repair import retag

    content = {n: v for n, v in CONTENT.items() if not n.endswith(".so")}
    content[f"{DIST}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        False,
    )
    pure = write_wheel(tmp_path / "in" / "demo_pkg-1.0.0-py3-none-any.whl", content)
    (tmp_path / "out").mkdir()
    tag = "pp311-pypy311_pp80-manylinux_2_17_x86_64"
    retagged = retag(pure, tag, tmp_path / "out")
    assert retagged.name == f"demo_pkg-1.0.0-{tag}.whl"
    assert {str(t) for t in parse_wheel_filename(retagged.name)[3]} == {tag}
    with zipfile.ZipFile(retagged) as archive:
        wheel = archive.read(f"{DIST}/WHEEL").decode()
        rows = {
            r[0]: r[1] for r in csv.reader(io.StringIO(archive.read(f"{DIST}/RECORD").decode()))
        }
        assert archive.read("demo_pkg/__init__.py") == content["demo_pkg/__init__.py"][0]
        script = archive.getinfo("demo_pkg-1.0.0.data/scripts/demo-tool")
        assert script.external_attr >> 16 & 0o111  # the script stays executable
    assert wheel.endswith(f"Root-Is-Purelib: true\nTag: {tag}\n")
    assert rows[f"{DIST}/WHEEL"] == record_hash(wheel.encode())
    normalize_wheel(retagged, tmp_path, source_date_epoch=ZIP_EPOCH)  # RECORD checks out


def test_a_programs_wheel_is_retagged_for_every_interpreter_of_its_platforms(
    tmp_path: Path,
) -> None:
    """setuptools-rust tags maturin's wheel for the interpreter that built it; the
    program's wheel names py3-none and every platform tag auditwheel gave it."""
    from packaging.utils import parse_wheel_filename

    from builder.pipeline.repair import program_tag, retag

    name = "demo_pkg-1.0.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    built = write_wheel(tmp_path / "in" / name, CONTENT)
    tag = program_tag(built)
    assert tag == "py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64"
    retagged = retag(built, tag, tmp_path / "out")
    assert retagged.name == f"demo_pkg-1.0.0-{tag}.whl"
    with zipfile.ZipFile(retagged) as archive:
        lines = archive.read(f"{DIST}/WHEEL").decode().splitlines()
    assert [line for line in lines if line.startswith("Tag:")] == [
        "Tag: py3-none-manylinux2014_x86_64",
        "Tag: py3-none-manylinux_2_17_x86_64",
    ]
    assert {str(t) for t in parse_wheel_filename(retagged.name)[3]} == {
        line.removeprefix("Tag: ") for line in lines if line.startswith("Tag:")
    }
    normalize_wheel(retagged, tmp_path, source_date_epoch=ZIP_EPOCH)  # RECORD checks out
