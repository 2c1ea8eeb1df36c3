"""A real kubo for tests: the pinned binary, throwaway repos and daemons on loopback.

Not a conftest: any test module (oracle, integration, publish) imports what it needs.
The binary is built by `nox -s kubo` (tools/kubo.sh) into the cache, or named by
$IPWHL_KUBO. Without it, tests fail under CI and skip elsewhere, saying how to get it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Keep in step with the pin in tools/kubo.sh.
KUBO_VERSION = "v0.43.0"

# No telemetry, no update checks: tests never talk to anything off this machine.
_QUIET_ENV = {"IPFS_TELEMETRY": "off", "DO_NOT_TRACK": "1", "GOLOG_LOG_LEVEL": "error"}


def kubo_binary() -> Path | None:
    """$IPWHL_KUBO, else the binary tools/kubo.sh builds into the cache."""
    explicit = os.environ.get("IPWHL_KUBO")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    cache = Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl"))
    candidate = cache / "kubo" / KUBO_VERSION / "ipfs"
    return candidate if candidate.is_file() else None


def require_kubo() -> Path:
    binary = kubo_binary()
    if binary is None:
        message = (
            f"kubo {KUBO_VERSION} not found (looked at $IPWHL_KUBO and the ipwhl cache); "
            "run `nox -s kubo` (or `bash tools/kubo.sh`) to build it"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return binary


@dataclass(frozen=True, kw_only=True)
class KuboRepo:
    """An IPFS_PATH made by `ipfs init --profile test[,<profile>]`, used without a daemon."""

    binary: Path
    path: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **_QUIET_ENV, "IPFS_PATH": str(self.path)}

    def run(self, *args: str, input: bytes | None = None, timeout: float = 600) -> str:
        done = subprocess.run(
            [str(self.binary), *args], input=input, env=self.env,
            capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(
                f"ipfs {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stderr.decode(errors='replace')}"
            )
        return done.stdout.decode()

    def add_only_hash(self, path: Path, *extra: str) -> str:
        """The CID `ipfs add -r --only-hash -Q` prints for `path` under this repo's profile."""
        return self.run("add", "-r", "--only-hash", "-Q", *extra, str(path)).strip()


def init_repo(binary: Path, path: Path, profile: str | None = None) -> KuboRepo:
    """A fresh repo with the `test` profile (loopback, port 0, no bootstrap) plus `profile`."""
    profiles = "test" if profile is None else f"test,{profile}"
    repo = KuboRepo(binary=binary, path=path)
    subprocess.run(
        [str(binary), "init", "--profile", profiles], env=repo.env,
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    # No delegated routing either: a daemon here must not reach for the internet.
    repo.run("config", "Routing.Type", "none")
    return repo


@dataclass(frozen=True, kw_only=True)
class KuboDaemon:
    """A running daemon: its repo and the loopback URLs it listens on."""

    repo: KuboRepo
    api_url: str
    gateway_url: str

    def rpc(self, command: str, **params: str) -> object:
        """POST to the RPC API and decode its JSON answer (one object or a stream)."""
        query = "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in params.items())
        request = urllib.request.Request(f"{self.api_url}/api/v0/{command}?{query}", method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]
        return lines[0] if len(lines) == 1 else lines


_LISTEN = re.compile(r"^(RPC API|Gateway) server listening on /ip4/([\d.]+)/tcp/(\d+)")


@contextlib.contextmanager
def running_daemon(
    binary: Path, path: Path, profile: str | None = None, *, timeout: float = 60
) -> Iterator[KuboDaemon]:
    """Start a throwaway daemon on free loopback ports; stop it afterwards, whatever happens.

    The `test` profile binds API, gateway and swarm to 127.0.0.1 port 0, so the kernel
    picks free ports and there is no race; the daemon tells us which it got.
    """
    repo = init_repo(binary, path, profile)
    process = subprocess.Popen(
        [str(binary), "daemon"], env=repo.env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    urls: dict[str, str] = {}
    output: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        # Keep draining the pipe after startup so a chatty daemon never blocks on it.
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if match := _LISTEN.match(line):
                urls[match.group(1)] = f"http://{match.group(2)}:{match.group(3)}"
            if line.startswith("Daemon is ready"):
                ready.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("kubo daemon did not start:\n" + "".join(output[-40:]))
        yield KuboDaemon(repo=repo, api_url=urls["RPC API"], gateway_url=urls["Gateway"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        watcher.join(timeout=5)
