"""The local store: records round-trip, a record without its wheel is not a hit, and
writes go through a temporary file and a rename."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.errors import StoreError
from builder.pipeline.store import Record, Store, canonical_json, input_hash
from tests.fixtures.farm_files import snapshot

WHEEL = b"PK\x03\x04 pretend wheel bytes" * 100


def record_for(wheel_sha256: str, **changes: object) -> Record:
    inputs = {
        "recipe": "ab" * 32,
        "platform": "linux-x86_64-cp312",
        "lock": ["build==1.2.2", "setuptools==75.1.0"],
        "env": {"CFLAGS": "-O2"},
    }
    fields: dict[str, object] = dict(
        project="demo-pkg",
        version="1.0.0",
        platform="linux-x86_64-cp312",
        input_hash=input_hash(inputs),
        inputs=inputs,
        wheel="demo_pkg-1.0.0-py3-none-any.whl",
        wheel_sha256=wheel_sha256,
        wheel_size=len(WHEEL),
        built_on="linux-x86_64-cp312",
        network_isolated=True,
        tests=("import demo_pkg", "pytest -q"),
    )
    fields.update(changes)
    return Record(**fields)  # type: ignore[arg-type]


def put_wheel(store: Store, tmp_path: Path) -> str:
    wheel = tmp_path / "demo_pkg-1.0.0-py3-none-any.whl"
    wheel.write_bytes(WHEEL)
    return store.put_file(wheel)


def leftovers(store: Store) -> list[Path]:
    """Files left in the store's temporary space (its per-process directories may stay)."""
    return sorted(p for p in (store.root / "tmp").rglob("*") if not p.is_dir())


def test_record_json_round_trip() -> None:
    record = record_for("cd" * 32)
    raw = record.to_json()
    assert Record.from_json(raw) == record
    assert raw.endswith(b"\n") and raw == record_for("cd" * 32).to_json()  # deterministic
    data = json.loads(raw)
    assert data["tests"] == ["import demo_pkg", "pytest -q"]
    assert list(data) == sorted(data)


@given(
    inputs=st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
    ),
    tests=st.lists(st.text(max_size=10), max_size=3),
)
def test_any_record_round_trips(inputs: dict[str, object], tests: list[str]) -> None:
    record = record_for("ef" * 32, inputs=inputs, input_hash=input_hash(inputs), tests=tuple(tests))
    assert Record.from_json(record.to_json()) == record


def test_input_hash_ignores_key_order() -> None:
    assert input_hash({"a": 1, "b": [1, 2]}) == input_hash({"b": [1, 2], "a": 1})
    assert input_hash({"a": 1}) != input_hash({"a": 2})
    assert canonical_json({"b": "é", "a": 1}) == '{"a":1,"b":"é"}'.encode()


def test_put_file_stores_by_sha256_atomically(tmp_path: Path) -> None:
    store = Store(root=tmp_path / "store")
    sha = put_wheel(store, tmp_path)
    assert sha == hashlib.sha256(WHEEL).hexdigest()
    assert store.blob(sha).read_bytes() == WHEEL and store.has_blob(sha)
    assert stat.S_IMODE(store.blob(sha).stat().st_mode) == 0o444
    assert leftovers(store) == []
    before = snapshot(store.root)
    assert put_wheel(store, tmp_path) == sha  # the same bytes again: nothing changes
    assert snapshot(store.root) == before and leftovers(store) == []


def test_put_and_get_record(tmp_path: Path) -> None:
    store = Store(root=tmp_path / "store")
    record = record_for(put_wheel(store, tmp_path))
    path = store.put_record(record)
    assert path == store.record_path(record.input_hash)
    assert path.read_bytes() == record.to_json()
    assert store.get_record(record.input_hash) == record
    assert store.records() == [record]
    assert leftovers(store) == []
    assert store.get_record("0" * 64) is None


def test_get_record_is_none_when_the_wheel_blob_is_missing(tmp_path: Path) -> None:
    store = Store(root=tmp_path / "store")
    record = record_for(put_wheel(store, tmp_path))
    store.put_record(record)
    store.blob(record.wheel_sha256).unlink()
    assert store.get_record(record.input_hash) is None
    assert store.record_path(record.input_hash).is_file()  # not deleted by a read


@pytest.mark.parametrize("settled", [True, False], ids=["remembered", "just-written"])
def test_a_blob_changed_in_place_is_never_served_as_cached(tmp_path: Path, settled: bool) -> None:
    """Whether or not its last good hash was remembered (by stat), a blob whose bytes
    changed is refused, naming the fix."""
    store = Store(root=tmp_path / "store")
    record = record_for(put_wheel(store, tmp_path))
    store.put_record(record)
    blob = store.blob(record.wheel_sha256)
    memo = store.root / "checked" / record.wheel_sha256
    if settled:  # as if stored a while ago: the good hash is remembered by its stat
        os.utime(blob, ns=(0, 0))
        time.sleep(2.1)  # ctime must be older than the clock's settling time
    assert store.get_record(record.input_hash) == record
    assert memo.is_file() is settled
    blob.chmod(0o644)
    with blob.open("r+b") as f:  # same size and inode; mtime put back: only ctime tells
        f.write(b"X")
    os.utime(blob, ns=(0, 0))
    with pytest.raises(StoreError, match="no longer has its sha256") as caught:
        store.get_record(record.input_hash)
    assert "store check --repair" in caught.value.fix


def test_get_record_is_none_when_the_record_is_for_other_inputs(tmp_path: Path) -> None:
    store = Store(root=tmp_path / "store")
    record = record_for(put_wheel(store, tmp_path))
    store.put_record(record)
    other = "9" * 64
    store.record_path(other).write_bytes(record.to_json())
    assert store.get_record(other) is None


def test_put_record_refuses_a_record_whose_blob_is_absent(tmp_path: Path) -> None:
    store = Store(root=tmp_path / "store")
    put_wheel(store, tmp_path)
    before = snapshot(store.root)
    record = record_for("0" * 64)
    with pytest.raises(StoreError) as caught:
        store.put_record(record)
    assert record.input_hash in str(caught.value) and caught.value.fix
    assert snapshot(store.root) == before
    assert not store.record_path(record.input_hash).exists()


def test_corrupt_record_is_a_store_error_naming_it(tmp_path: Path) -> None:
    store = Store(root=tmp_path / "store")
    record = record_for(put_wheel(store, tmp_path))
    path = store.put_record(record)
    path.chmod(0o644)
    path.write_bytes(record.to_json()[:40])
    with pytest.raises(StoreError) as caught:
        store.get_record(record.input_hash)
    assert str(path) in str(caught.value) and f"delete {path}" in caught.value.fix
    data = json.loads(record.to_json())
    del data["wheel"]
    path.write_text(json.dumps(data))
    with pytest.raises(StoreError):
        store.get_record(record.input_hash)


def test_publish_log_and_clean_tmp(tmp_path: Path) -> None:
    store = Store(root=tmp_path / "store")
    log = tmp_path / "job.log"
    log.write_text("first\n")
    readable = store.publish_log(log, project="demo-pkg", platform="linux-x86_64-cp312")
    log.write_text("second\n")
    assert store.publish_log(log, project="demo-pkg", platform="linux-x86_64-cp312") == readable
    assert readable.read_text() == "second\n"
    assert [p.name for p in readable.parent.iterdir()] == ["demo-pkg.log"]  # no .part left
    (store.root / "tmp").mkdir()
    (store.root / "tmp" / "tmpabc123").write_bytes(b"half a wheel")
    store.clean_tmp()
    assert leftovers(store) == []


def test_start_up_clean_up_spares_the_temporary_files_of_a_live_run(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    store = Store(root=tmp_path / "store")
    mine = store._tmp() / "half-written"  # this process: a run still writing
    mine.write_bytes(b"in flight")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = tmp_path / "store" / "tmp" / f"pid-{gone.stdout.strip()}"
    dead.mkdir()
    (dead / "left-by-a-killed-run").write_bytes(b"x")
    (tmp_path / "store" / "tmp" / "loose-old-layout").write_bytes(b"x")
    store.clean_tmp()
    assert mine.read_bytes() == b"in flight"
    assert not dead.exists()
    assert sorted(p.name for p in (tmp_path / "store" / "tmp").iterdir()) == [f"pid-{os.getpid()}"]
