"""`ipwhl store check`: every blob re-hashed, every record and kept METADATA checked."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from builder.cli import main
from builder.pipeline.store import Store
from builder.pipeline.storecheck import check_store, repair
from tests.unit.test_store import record_for


def _stored(tmp_path: Path) -> tuple[Store, str]:
    """A store holding one real wheel, its record and its kept METADATA."""
    wheel = tmp_path / "demo_pkg-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo_pkg-1.0.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0.0\n")  # fmt: skip
    store = Store(root=tmp_path / "store")
    sha = store.put_file(wheel)
    store.put_record(record_for(sha))
    store.wheel_metadata(sha)
    return store, sha


def test_a_whole_store_checks_clean(tmp_path: Path) -> None:
    store, _ = _stored(tmp_path)
    report = check_store(store)
    assert (report.blobs, report.records, report.damage, report.leftovers) == (1, 1, (), ())


def test_a_changed_blob_names_itself_its_record_and_its_metadata(tmp_path: Path) -> None:
    store, sha = _stored(tmp_path)
    blob = store.blob(sha)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes() + b"\0")
    record = store.record_path(record_for(sha).input_hash)
    report = check_store(store)
    assert {(d.path, d.what) for d in report.damage} == {
        (blob, "its bytes no longer hash to its name"),
        (record, "names demo_pkg-1.0.0-py3-none-any.whl, which is damaged"),
        (store.root / "metadata" / sha, "kept for a wheel the store lacks intact"),
    }
    repair(report)
    assert check_store(store).damage == ()
    assert store.get_record(record_for(sha).input_hash) is None  # the job is built again


@pytest.mark.parametrize("damage", ["not json", "wrong name", "inputs changed"])
def test_a_damaged_record_is_named(tmp_path: Path, damage: str) -> None:
    store, sha = _stored(tmp_path)
    path = store.record_path(record_for(sha).input_hash)
    path.chmod(0o644)
    if damage == "not json":
        path.write_text("{")
    elif damage == "wrong name":
        path.rename(path.with_name("0" * 64 + ".json"))
        path = path.with_name("0" * 64 + ".json")
    else:
        path.write_text(path.read_text().replace("-O2", "-O3"))
    (found,) = check_store(store).damage
    assert found.path == path


def test_the_command_exits_4_on_damage_and_0_after_repair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, sha = _stored(tmp_path)
    (store.root / "staging").mkdir()
    (store.root / "staging" / ("e" * 64)).write_bytes(b"a killed run's wheel")
    kept = store.root / "metadata" / sha
    kept.chmod(0o644)
    kept.write_bytes(b"Name: other\n")
    args = ["store", "check", "--store", str(store.root)]
    assert main(args) == 4
    out = capsys.readouterr().out
    assert f"damaged: {kept}: not the METADATA of its wheel" in out
    assert "1 damaged, 1 staged leftovers" in out
    assert main([*args, "--repair"]) == 0
    assert main(args) == 0
