"""The content-addressed local store: blobs by sha256, one JSON record per job.

Blobs (sdists, wheels, logs) live at `blobs/<sha256>`; a record at
`records/<input-hash>.json` says which wheel a job with exactly those inputs made.
Everything is written to a temporary file and renamed, and a record only after its
blobs, so a build killed at any moment leaves nothing a reader could take for done.

A new wheel waits in `staging/<sha256>` until it has passed its test; only then is it
moved into `blobs/` (and its record written). A wheel that fails leaves nothing here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from builder.atomic import alive, write_atomic
from builder.errors import StoreError
from builder.metadata import read_metadata
from builder.pipeline.fetch import sha256_file

_CHUNK = 1 << 20
_SETTLED_NS = 2_000_000_000  # see Store.intact


def canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def input_hash(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(inputs)).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Record:
    """What one job made from exactly these inputs. Deterministic: no times, no hosts."""

    project: str
    version: str
    platform: str
    input_hash: str
    inputs: dict[str, Any] = field(hash=False)
    wheel: str
    wheel_sha256: str
    wheel_size: int
    built_on: str  # the platform whose build made the wheel (pure wheels: the pure one)
    network_isolated: bool  # of the build that made the wheel
    tests: tuple[str, ...]
    # The input hash of the record whose build made the wheel: this record's own for a
    # built wheel, the building job's for a reused one.
    built_by: str = ""

    def to_json(self) -> bytes:
        data = asdict(self)
        data["tests"] = list(self.tests)
        return json.dumps(data, sort_keys=True, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> Record:
        data = json.loads(raw)
        data["tests"] = tuple(data["tests"])
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class Store:
    root: Path
    # The process id of the run that stages wheels: each run stages in a directory of
    # its own, so a rerun can drop what a killed run left without touching a live one's.
    run: int = 0

    def blob(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256

    def has_blob(self, sha256: str) -> bool:
        return self.blob(sha256).is_file()

    def _tmp(self) -> Path:
        # One directory per process: a run's start-up clean-up must never take the
        # half-written files of another run that shares the store.
        tmp = self.root / "tmp" / f"pid-{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp

    def _copy_in(self, path: Path) -> tuple[Path, str]:
        """Copy `path` to a temporary file here; hashing and copying are one pass."""
        digest = hashlib.sha256()
        with (
            path.open("rb") as src,
            tempfile.NamedTemporaryFile(dir=self._tmp(), delete=False) as dst,
        ):
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
        return Path(dst.name), digest.hexdigest()

    def put_file(self, path: Path) -> str:
        """Copy `path` in; return its sha256."""
        tmp, sha = self._copy_in(path)
        self._commit(tmp, self.blob(sha))
        return sha

    def staged(self, sha256: str) -> Path:
        return self.root / "staging" / f"pid-{self.run}" / sha256

    def stage(self, path: Path) -> str:
        """Copy a new, untested wheel in beside the blobs; return its sha256."""
        tmp, sha = self._copy_in(path)
        self._commit(tmp, self.staged(sha))
        return sha

    def wheel(self, sha256: str) -> Path:
        """Where a wheel of this run or of the store is now: staged first, because a
        staged wheel may be promoted (renamed into blobs/) at any moment."""
        staged = self.staged(sha256)
        if staged.is_file():
            return staged
        if self.has_blob(sha256):
            return self.blob(sha256)
        raise StoreError(
            f"wheel {sha256} is neither staged nor in {self.root / 'blobs'}",
            fix="rerun the build; the job that made it will be rebuilt",
        )

    def copy_out(
        self, wheels: Iterable[tuple[str, str]], directory: Path
    ) -> list[tuple[Path, str]]:
        """Copies of wheels under their file names, each checked against its sha256.

        Copies, not links: nothing a build or test does to them can reach the store.
        """
        directory.mkdir(parents=True, exist_ok=True)
        copied = []
        for filename, sha in wheels:
            target = directory / filename
            shutil.copyfile(self.wheel(sha), target)
            with target.open("rb") as f:
                if hashlib.file_digest(f, "sha256").hexdigest() != sha:
                    raise StoreError(
                        f"{filename} in the store no longer has sha256 {sha}",
                        fix=f"delete {self.blob(sha)} and rebuild what made it",
                    )
            copied.append((target, sha))
        return copied

    def wheel_metadata(self, sha256: str) -> bytes:
        """A stored wheel's METADATA, kept beside the blobs under its sha256 once read:
        a cached run needs every wheel's requirements, and opening 300 zips costs more
        than the rest of it."""
        kept = self.root / "metadata" / sha256
        try:
            return kept.read_bytes()
        except FileNotFoundError:
            pass
        raw = read_metadata(self.wheel(sha256))
        kept.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self._tmp(), delete=False) as tmp:
            tmp.write(raw)
        self._commit(Path(tmp.name), kept)
        return raw

    def promote(self, sha256: str) -> None:
        """Move a tested wheel into blobs/, after checking it still has its bytes."""
        staged = self.staged(sha256)
        if not staged.is_file():
            if self.has_blob(sha256):
                return
            raise StoreError(
                f"staged wheel {sha256} vanished before it could be stored",
                fix="is another run using this store? rerun the build",
            )
        with staged.open("rb") as f:
            found = hashlib.file_digest(f, "sha256").hexdigest()
        if found != sha256:
            staged.unlink()
            raise StoreError(
                f"staged wheel {sha256} changed after it was built (now {found})",
                fix="something wrote into the store's staging/; rerun the build",
            )
        self._commit(staged, self.blob(sha256))

    def end_run(self) -> None:
        """Remove this run's staging directory once every wheel in it is stored or
        dropped (a wheel still there is left for `store check` to name)."""
        with contextlib.suppress(OSError):
            (self.root / "staging" / f"pid-{self.run}").rmdir()

    def discard(self, sha256: str) -> None:
        """Drop a staged wheel that will never be stored (it failed, or was skipped)."""
        self.staged(sha256).unlink(missing_ok=True)

    def _commit(self, tmp: Path, final: Path) -> None:
        tmp.chmod(0o444)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            tmp.unlink()
        else:
            tmp.replace(final)

    def record_path(self, input_hash: str) -> Path:
        return self.root / "records" / f"{input_hash}.json"

    def get_record(self, input_hash: str) -> Record | None:
        """The record for these inputs, if it and its wheel are whole."""
        path = self.record_path(input_hash)
        if not path.is_file():
            return None
        try:
            record = Record.from_json(path.read_bytes())
        except (ValueError, TypeError, KeyError) as e:
            raise StoreError(
                f"{path} is not a valid build record: {e}",
                fix=f"delete {path}; the job will be rebuilt",
            ) from e
        if record.input_hash != input_hash or not self.has_blob(record.wheel_sha256):
            return None
        if not self.intact(record.wheel_sha256):
            raise StoreError(
                f"the store's blob of {record.wheel} no longer has its sha256 "
                f"{record.wheel_sha256}: it was changed after it was stored",
                fix="run `ipwhl store check --repair` (it drops the blob and the records "
                "naming it), then rerun the build",
            )
        return record

    def intact(self, sha256: str) -> bool:
        """Whether blob `sha256` still hashes to its name.

        Re-hashed only when its stat (size, mtime, ctime, inode) differs from when it
        last hashed right, as git's index does: nothing short of root changing the clock
        changes a file's bytes without changing its ctime. A blob changed within the last
        seconds is not remembered, since ctime ticks coarser than writes land."""
        blob = self.blob(sha256)
        seen = blob.stat()
        key = f"{seen.st_size} {seen.st_mtime_ns} {seen.st_ctime_ns} {seen.st_ino}\n"
        memo = self.root / "checked" / sha256
        with contextlib.suppress(OSError):
            if memo.read_text() == key:
                return True
        if sha256_file(blob) != sha256:
            return False
        if time.time_ns() - seen.st_ctime_ns > _SETTLED_NS:
            write_atomic(memo, key)
        return True

    def put_record(self, record: Record) -> Path:
        if not self.has_blob(record.wheel_sha256):
            raise StoreError(
                f"record {record.input_hash} names a blob not in the store",
                fix="this is a bug in the farm; report it",
            )
        final = self.record_path(record.input_hash)
        with tempfile.NamedTemporaryFile(dir=self._tmp(), delete=False) as tmp:
            tmp.write(record.to_json())
        self._commit(Path(tmp.name), final)
        return final

    def records(self) -> list[Record]:
        directory = self.root / "records"
        if not directory.is_dir():
            return []
        return [Record.from_json(p.read_bytes()) for p in sorted(directory.glob("*.json"))]

    def times(self) -> dict[tuple[str, str], float]:
        """(project, platform) -> seconds its job last took, as put_time wrote them."""
        return read_times(self.root / "times")

    def put_time(self, project: str, platform: str, seconds: float) -> None:
        """How long a job last took to build and test: the CI matrix's cost estimate.
        Kept beside the records, never in them (times are not deterministic)."""
        write_atomic(self.root / "times" / platform / project, f"{seconds:.1f}\n")

    def publish_log(self, log: Path, *, project: str, platform: str) -> Path:
        """Keep the job's latest log at a readable path. Logs carry times and paths, so
        they are kept beside the records, never in them: records stay deterministic."""
        readable = self.root / "logs" / platform / f"{project}.log"
        readable.parent.mkdir(parents=True, exist_ok=True)
        tmp = readable.with_name(f".{readable.name}.part")
        shutil.copyfile(log, tmp)
        tmp.chmod(0o644)
        tmp.replace(readable)
        return readable

    def clean_tmp(self) -> None:
        """Leftovers of killed runs (never referenced, safe to drop): the temporary and
        staging directories of processes that are gone. A live process's are left alone."""
        for entry in left_by_dead_runs(self.root):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def left_by_dead_runs(root: Path) -> list[Path]:
    """The per-process entries of tmp/ and staging/ whose process is gone."""
    found = []
    for base in (root / "tmp", root / "staging"):
        for entry in sorted(base.iterdir()) if base.is_dir() else ():
            pid = entry.name.removeprefix("pid-")
            if entry.is_dir() and pid.isdigit() and alive(int(pid)):
                continue
            found.append(entry)
    return found


def read_times(directory: Path) -> dict[tuple[str, str], float]:
    """`store/times/<platform>/<project>` files, as the executor writes them."""
    found = {}
    for path in sorted(directory.glob("*/*")) if directory.is_dir() else ():
        try:
            found[(path.name, path.parent.name)] = float(path.read_text())
        except ValueError:
            continue  # a half-copied artifact: the default estimate will do
    return found
