"""Rewrite a wheel so that equal content always gives equal bytes.

Entry order, timestamps, permissions, compression and RECORD are all fixed here, so
what remains to differ between two builds is the content itself.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import parse_wheel_filename

from builder.atomic import atomic_path
from builder.errors import BuildError

ZIP_EPOCH = 315532800  # 1980-01-01: the earliest time a zip entry can hold
_COMPRESSLEVEL = 6


def describe() -> dict[str, object]:
    """What of the normalizer shapes a wheel's bytes, for every job's inputs: its
    constants, and the deflate implementation (zlib) that compresses every entry."""
    return {
        "zip-epoch": ZIP_EPOCH,
        "compresslevel": _COMPRESSLEVEL,
        "modes": [0o100644, 0o100755],
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }


@dataclass(frozen=True, kw_only=True)
class Entry:
    name: str
    data: bytes
    executable: bool


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def _order(dist_info: str) -> Callable[[Entry], tuple[int, str]]:
    def key(entry: Entry) -> tuple[int, str]:
        # The wheel spec asks for .dist-info last and RECORD last of all, so that a
        # streaming installer sees the payload first.
        if entry.name == f"{dist_info}/RECORD":
            return (2, "")
        return (1 if entry.name.startswith(f"{dist_info}/") else 0, entry.name)

    return key


def read_entries(wheel: Path) -> list[Entry]:
    entries = []
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            mode = info.external_attr >> 16
            entries.append(
                Entry(name=info.filename, data=archive.read(info), executable=bool(mode & 0o111))
            )
    return entries


def normalize_wheel(wheel: Path, out_dir: Path, *, source_date_epoch: int) -> Path:
    """Write the normalized copy of `wheel` into `out_dir` and return its path."""
    parse_wheel_filename(wheel.name)  # refuse a misnamed wheel before any work
    entries = read_entries(wheel)
    dist_info = next(
        (
            e.name.split("/")[0]
            for e in entries
            if e.name.count("/") == 1 and e.name.endswith(".dist-info/WHEEL")
        ),
        None,
    )
    if dist_info is None:
        raise BuildError(
            f"{wheel.name} has no .dist-info/WHEEL",
            fix="the backend produced a broken wheel; check its log",
        )
    record_name = f"{dist_info}/RECORD"
    _check_record(wheel, entries, record_name)
    payload = sorted((e for e in entries if e.name != record_name), key=_order(dist_info))
    # RECORD is CSV: a name with a comma or quote must be quoted, as installers parse it.
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    writer.writerows([e.name, record_hash(e.data), len(e.data)] for e in payload)
    writer.writerow([record_name, "", ""])
    record = lines.getvalue()
    payload.append(Entry(name=record_name, data=record.encode(), executable=False))

    stamp = time.gmtime(max(source_date_epoch, ZIP_EPOCH))[:6]
    out = out_dir / wheel.name
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for entry in payload:
            info = zipfile.ZipInfo(entry.name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that external_attr carries the mode
            info.external_attr = (0o100755 if entry.executable else 0o100644) << 16
            archive.writestr(info, entry.data, compresslevel=_COMPRESSLEVEL)
    return out


def _check_record(wheel: Path, entries: list[Entry], record_name: str) -> None:
    """Refuse a wheel whose RECORD disagrees with its content: normalizing would hide it."""
    record = next((e for e in entries if e.name == record_name), None)
    if record is None:
        raise BuildError(
            f"{wheel.name} has no {record_name}",
            fix="the backend produced a broken wheel; check its log",
        )
    listed: dict[str, str] = {}
    for row in csv.reader(io.StringIO(record.data.decode())):
        if len(row) >= 2:
            listed[row[0]] = row[1]
    for entry in entries:
        expected = listed.get(entry.name)
        if expected and expected != record_hash(entry.data):
            raise BuildError(
                f"{wheel.name}: {entry.name} does not match its RECORD hash",
                fix="the wheel was altered after it was built; rebuild it",
            )
