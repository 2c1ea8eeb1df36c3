"""Running the farm's tools with their output appended to a job's log.

One way to do it, so that every log reads the same (`$ argv`, then the output) and
every caller words its own error from the exit code and the log's tail.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

UMASK = 0o022


def run_into_log(
    argv: list[str], *, log: Path, env: dict[str, str], cwd: Path, timeout: float
) -> int | None:
    """Run `argv` with stdout and stderr appended to `log`; its exit code, or None if it
    ran out of time."""
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            result = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                timeout=timeout,
                umask=UMASK if os.name == "posix" else -1,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return None
    return result.returncode


def tail(log: Path, lines: int = 25) -> str:
    text = log.read_text(errors="replace").splitlines()
    return "\n".join("    | " + line for line in text[-lines:])
