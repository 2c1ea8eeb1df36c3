"""A job's failure: a farm error keeps its own words, a bug leaves its traceback."""

from __future__ import annotations

import time
from pathlib import Path

from builder.errors import BuildError
from builder.pipeline.job import _failed


def test_a_bug_in_a_job_leaves_its_traceback_in_the_log(tmp_path: Path) -> None:
    log = tmp_path / "cffi.log"
    log.write_text("$ uv venv ...\n")
    try:
        Path(tmp_path / "missing").read_text()
    except OSError as e:
        failed = _failed("build", e, time.monotonic(), log)
    assert failed.message.startswith("FileNotFoundError:")
    assert "report it with the log" in failed.fix
    text = log.read_text()
    assert text.startswith("$ uv venv ...\n") and "Traceback (most recent call last)" in text
    assert "read_text" in text  # the line that raised


def test_a_farm_error_is_reported_in_its_own_words_only(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("")
    failed = _failed("build", BuildError("no compiler", fix="install one"), time.monotonic(), log)
    assert (failed.message, failed.fix) == ("no compiler", "install one")
    assert log.read_text() == ""
