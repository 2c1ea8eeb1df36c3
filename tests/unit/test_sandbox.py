"""The build sandbox: what a job sees, and refusing to build without one unless told."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
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


@pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap cannot run here")
def test_a_job_runs_as_65534_without_capabilities_and_cannot_read_roots_files(
    tmp_path: Path,
) -> None:
    job = tmp_path / "job"
    job.mkdir()
    script = "id -u; grep CapEff /proc/self/status; cat /etc/shadow >/dev/null 2>&1 || echo closed"
    argv = Sandbox(writable=job).wrap(["sh", "-c", f"{script}; touch {job}/made"], cwd=job)
    uid, _, caps, shadow = subprocess.run(argv, capture_output=True, text=True,
                                          check=True).stdout.split()  # fmt: skip
    assert (uid, caps, shadow) == ("65534", "0000000000000000", "closed")
    assert (job / "made").stat().st_uid == (65534 if os.geteuid() == 0 else os.geteuid())


REPO = Path(__file__).resolve().parents[2]


def _reachable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & 0o005 == 0o005 for p in (path, *path.parents))


@pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/usr/bin/python3").exists() or not _reachable_by_others(REPO),
    reason="needs root (to start as another user) and a checkout that user can read",
)
def test_started_by_an_unprivileged_user_the_sandbox_maps_it_to_65534(tmp_path: Path) -> None:
    """The other way in: bubblewrap's user namespace, as a developer's own account has."""
    job = Path(tempfile.mkdtemp(prefix="ipwhl-nobody-"))  # /tmp: reachable by that user
    try:
        os.chown(job, 65534, 65534)
        program = (
            "import subprocess, sys; from pathlib import Path; "
            "from builder.pipeline import sandbox; "
            f"job = Path({str(job)!r}); "
            "argv = sandbox.Sandbox(writable=job).wrap(['sh', '-c', 'id -u; touch made; "
            "ls /proc | grep -c ^[0-9]'], cwd=job); "
            "print(sandbox.bubblewrap()); sys.stdout.flush(); subprocess.run(argv, check=True)"
        )
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             "/usr/bin/python3", "-c", program],
            capture_output=True, text=True, check=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        described, uid, processes = done.stdout.strip().rsplit("\n", 2)
        assert described.endswith(", uid 65534") and uid == "65534" and int(processes) <= 4
        assert (job / "made").is_file()
    finally:
        shutil.rmtree(job)


@pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap cannot run here")
def test_a_job_can_use_multiprocessing(tmp_path: Path) -> None:
    """pillow's build compiles in a process pool: its semaphores need a writable
    /dev/shm, private to the job."""
    job = tmp_path / "job"
    job.mkdir()
    python = Path(sys.base_prefix) / "bin" / "python3"
    program = "import multiprocessing as m; print(m.Pool(2).map(abs, [-1, -2]))"
    argv = Sandbox(writable=job, readable=(Path(sys.base_prefix),)).wrap(
        [str(python), "-c", program], cwd=job
    )
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout == "[1, 2]\n", done.stderr


def test_an_emulator_counts_only_when_enabled_with_the_fix_binary_flag(tmp_path: Path) -> None:
    from builder.pipeline.emulation import emulator

    entry = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: {}\noffset 0\n"
    (tmp_path / "qemu-aarch64").write_text(entry.format("PF"))
    (tmp_path / "qemu-riscv64").write_text(entry.format("P"))  # opened late: not in a sandbox
    (tmp_path / "qemu-s390x").write_text(entry.format("PF").replace("enabled", "disabled"))
    found = {a: emulator(a, tmp_path) for a in ("aarch64", "riscv64", "s390x", "mips")}
    assert found == {"aarch64": Path("/usr/libexec/qemu-binfmt/aarch64-binfmt-P"),
                     "riscv64": None, "s390x": None, "mips": None}  # fmt: skip
