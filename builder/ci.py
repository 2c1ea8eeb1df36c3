"""The CI workflow's logic, so that no step lives only in YAML: the job summary's table
and publishing from a runner through kubo and a pinning service (the build matrix is
`builder.matrix`)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from builder.errors import IpwhlError
from builder.paths import default_cache


def status_table(manifest: dict[str, Any]) -> str:
    """A Markdown project x platform table: the wheel's sha256 prefix, or why it is missing."""
    platforms = sorted(manifest.get("platforms", []))
    projects = manifest.get("projects", {})
    missing = manifest.get("missing", {})
    lines = [
        "| project | version | " + " | ".join(platforms) + " |",
        "|---|---|" + "---|" * len(platforms),
    ]
    for name in sorted(set(projects) | set(missing)):
        entry = projects.get(name, {})
        cells = []
        for pid in platforms:
            wheel = entry.get("platforms", {}).get(pid)
            if wheel is not None:
                cells.append(f"`{wheel['sha256'][:10]}`")
            elif pid in missing.get(name, {}):
                cells.append("missing")
            else:
                cells.append("")
        lines.append(f"| {name} | {entry.get('version', '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, text)  # not a release name: older than any release


def find_kubo(explicit: Path | None) -> Path:
    """The ipfs binary: `explicit`, else the newest one tools/kubo.sh built in the cache."""
    built = sorted(
        (default_cache() / "kubo").glob("v*/ipfs"),
        key=lambda p: _version_key(p.parent.name.removeprefix("v")),
    )
    candidates = [explicit] if explicit else built
    found = [c for c in candidates if c is not None and c.is_file()]
    if not found:
        raise IpwhlError("no kubo binary", fix="run `nox -s kubo` (it builds kubo once)")
    return found[-1]


def _run(argv: Sequence[str], env: dict[str, str], what: str, *, secret: bool = False) -> None:
    result = subprocess.run(list(argv), env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shown = what if secret else " ".join(argv)  # never echo a key
        raise IpwhlError(
            f"`{shown}` failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}",
            fix="check the kubo repository and the pinning service settings",
        )


@contextmanager
def kubo_daemon(ipfs: Path, *, timeout: float = 120) -> Iterator[tuple[str, dict[str, str]]]:
    """A throwaway kubo repository and its running daemon: (RPC multiaddr, environment)."""
    with tempfile.TemporaryDirectory(prefix="ipwhl-kubo-") as repo:
        env = {**os.environ, "IPFS_PATH": repo, "IPFS_TELEMETRY": "off"}
        _run([str(ipfs), "init", "--profile", "server"], env, "ipfs init")
        daemon = subprocess.Popen([str(ipfs), "daemon"], env=env, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + timeout
            api = Path(repo) / "api"
            while not api.exists():
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise IpwhlError("kubo's daemon did not start", fix="run `ipfs daemon` by hand")
                time.sleep(0.5)
            yield api.read_text().strip(), env
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)


def pin_remotely(ipfs: Path, env: dict[str, str], cid: str, *, endpoint: str, key: str) -> None:
    """Pin `cid` through an IPFS Pinning Service API; the key never reaches a log."""
    service = [str(ipfs), "pin", "remote"]
    _run([*service, "service", "add", "ipwhl", endpoint, key], env,
         "ipfs pin remote service add ipwhl <endpoint> <key>", secret=True)  # fmt: skip
    _run([*service, "add", "--service=ipwhl", f"--name=ipwhl-{cid}", cid], env,
         f"ipfs pin remote add {cid}")  # fmt: skip
