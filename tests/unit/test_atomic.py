"""Atomic writes, and sweeping what a killed process left of them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from builder.atomic import atomic_path, sweep, sweep_directory, temporary_prefix


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.name.startswith(temporary_prefix(target)) and tmp.name.endswith(".part")
        tmp.write_text("half")
        raise RuntimeError
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_sweep_removes_a_dead_runs_leftovers_only(tmp_path: Path) -> None:
    target = tmp_path / "demo-1.0.tar.gz"
    dead = _dead_pid()
    dead_file = tmp_path / f".demo-1.0.tar.gz.pid-{dead}.x1.part"
    dead_dir = tmp_path / f".demo-1.0.tar.gz.pid-{dead}.x2"
    live = tmp_path / f".demo-1.0.tar.gz.pid-{os.getpid()}.x3.part"  # a run in progress
    other = tmp_path / f".other.pid-{dead}.x4.part"  # another file's: not this sweep's
    unnamed = tmp_path / ".demo-1.0.tar.gz.x5.part"  # no owner: never guessed at
    dead_dir.mkdir()
    (dead_dir / "inside").write_text("x")
    for path in (dead_file, live, other, unnamed):
        path.write_text("x")
    sweep(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (live, other, unnamed)
    )


def test_sweep_directory_removes_every_dead_runs_leftovers_whatever_their_name(
    tmp_path: Path,
) -> None:
    dead = _dead_pid()
    car = tmp_path / f".bafyroot.car.pid-{dead}.x1.part"  # named by a root no rerun knows
    staging = tmp_path / f".tree.pid-{dead}.x2"
    live = tmp_path / f".bafyroot.car.pid-{os.getpid()}.x3.part"
    kept = [tmp_path / "bafyroot.car", tmp_path / ".tree-index.json", live]
    staging.mkdir()
    for path in (car, *kept):
        path.write_text("x")
    sweep_directory(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)
