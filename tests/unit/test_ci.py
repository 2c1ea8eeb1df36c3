"""The CI workflow's logic: the summary table, and kubo (for real)."""

from __future__ import annotations

import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from builder.ci import find_kubo, kubo_daemon, pin_remotely, status_table
from builder.errors import IpwhlError
from tests.fixtures.farm_files import write
from tests.kubo import init_repo, require_kubo

CID = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"  # sha256 of "hello"


def test_status_table_shows_sha256_prefixes_and_what_is_missing() -> None:
    manifest = {
        "platforms": ["win-x-cp312", "linux-x-cp312"],
        "projects": {
            "idna": {"version": "3.10", "platforms": {
                "linux-x-cp312": {"sha256": "0123456789abcdef" * 4},
                "win-x-cp312": {"sha256": "fedcba9876543210" * 4}}},
            "lxml": {"version": "5.3.0", "platforms": {
                "linux-x-cp312": {"sha256": "a" * 64}}},
        },
        "missing": {"lxml": {"win-x-cp312": "build failed"}, "cffi": {"linux-x-cp312": "x"}},
    }  # fmt: skip
    assert status_table(manifest) == (
        "| project | version | linux-x-cp312 | win-x-cp312 |\n"
        "|---|---|---|---|\n"
        "| cffi |  | missing |  |\n"
        "| idna | 3.10 | `0123456789` | `fedcba9876` |\n"
        "| lxml | 5.3.0 | `aaaaaaaaaa` | missing |\n"
    )
    assert status_table({}) == "| project | version |  |\n|---|---|\n"


# ---- kubo -----------------------------------------------------------------------------


def test_find_kubo_takes_an_explicit_binary_or_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IPWHL_CACHE", str(tmp_path / "cache"))
    mine = write(tmp_path / "bin" / "ipfs", "#!/bin/sh\n")
    assert find_kubo(mine) == mine
    with pytest.raises(IpwhlError) as caught:
        find_kubo(None)  # the cache has none
    assert caught.value.message == "no kubo binary"
    assert "nox -s kubo" in caught.value.fix
    (tmp_path / "cache" / "kubo" / "v0.41.0").mkdir(parents=True)  # a build that failed
    built = write(tmp_path / "cache" / "kubo" / "v0.40.0" / "ipfs", "#!/bin/sh\n")
    assert find_kubo(None) == built
    newer = write(tmp_path / "cache" / "kubo" / "v0.43.0" / "ipfs", "#!/bin/sh\n")
    assert find_kubo(None) == newer
    with pytest.raises(IpwhlError):
        find_kubo(tmp_path / "bin" / "no-such-ipfs")  # named, so no fallback to the cache


def test_find_kubo_takes_the_newest_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IPWHL_CACHE", str(tmp_path))
    write(tmp_path / "kubo" / "v0.9.0" / "ipfs", "#!/bin/sh\n")
    newest = write(tmp_path / "kubo" / "v0.10.0" / "ipfs", "#!/bin/sh\n")
    assert find_kubo(None) == newest


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.kubo
def test_pin_remotely_reports_the_failing_step_without_the_key(tmp_path: Path) -> None:
    repo = init_repo(require_kubo(), tmp_path / "repo")
    env = repo.env
    endpoint = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(IpwhlError) as caught:
        pin_remotely(repo.binary, env, CID, endpoint=endpoint, key="s3cret-key")
    # The service was added; the pin itself failed, and says which command and why.
    assert endpoint in repo.run("pin", "remote", "service", "ls")
    message = str(caught.value)
    assert message.startswith(f"`{repo.binary} pin remote add --service=ipwhl ")
    assert f"--name=ipwhl-{CID} {CID}` failed (exit 1)" in message
    assert "connection refused" in message
    assert "s3cret-key" not in message

    bad = init_repo(repo.binary, tmp_path / "bad")
    with pytest.raises(IpwhlError) as caught:
        pin_remotely(bad.binary, bad.env, CID, endpoint="not a url", key="s3cret-key")
    message = str(caught.value)
    assert message.startswith("`ipfs pin remote service add ipwhl <endpoint> <key>` failed")
    assert "valid HTTP URL" in message
    assert "s3cret-key" not in message


@pytest.mark.kubo
def test_kubo_daemon_serves_its_api_and_is_gone_afterwards() -> None:
    ipfs = require_kubo()
    with kubo_daemon(ipfs, timeout=60) as (api, env):
        repo = Path(env["IPFS_PATH"])
        assert repo.is_dir()
        assert env["IPFS_TELEMETRY"] == "off"
        _, ip4, host, tcp, port = api.split("/")
        assert (ip4, tcp) == ("ip4", "tcp")
        url = f"http://{host}:{port}/api/v0/version"
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=30) as r:
            answer = r.read().decode()
        version = subprocess.run([str(ipfs), "version", "--number"], capture_output=True,
                                 text=True, check=True).stdout.strip()  # fmt: skip
        assert f'"Version":"{version}"' in answer
    assert not repo.exists()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5)
