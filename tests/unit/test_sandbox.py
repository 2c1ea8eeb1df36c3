"""The build sandbox: what a job sees, and refusing to build without one unless told."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from builder.errors import SandboxError
from builder.pipeline import sandbox
from builder.pipeline.sandbox import NONE, Sandbox


def test_without_bubblewrap_a_build_refuses_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # really no bwrap on PATH
    sandbox.bubblewrap.cache_clear()
    try:
        with pytest.raises(SandboxError) as caught:
            sandbox.describe(True)
        assert (
            "--no-sandbox" in caught.value.fix and "apt-get install bubblewrap" in caught.value.fix
        )
        assert sandbox.describe(False) == NONE
    finally:
        sandbox.bubblewrap.cache_clear()


@pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap cannot run here")
def test_a_job_writes_only_its_directory_and_sees_no_host_process(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    script = (
        "echo inside > job/made; touch /usr/planted 2>/dev/null && echo usr-writable; "
        "ls /proc | grep -c '^[0-9]'; ls /run | wc -l; hostname"
    )
    argv = Sandbox(writable=job).wrap(["sh", "-c", script.replace("job/", f"{job}/")], cwd=job)
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    processes, run_entries, hostname = done.stdout.split()
    assert (job / "made").read_text() == "inside\n"
    # bwrap's init, sh and the pipeline it is running: no host process.
    assert int(processes) <= 5 and run_entries == "0" and hostname == "ipwhl-sandbox"
    assert not Path("/usr/planted").exists()
