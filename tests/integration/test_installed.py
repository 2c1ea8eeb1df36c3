"""The farm as a user installs it: a non-editable install, called by absolute path from
a venv that is not activated, with a PATH that holds no uv and no pyenv shims."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.farmcopy import NATIVE, REPO, make_farm

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_ipwhl_builds_and_verifies_from_a_non_activated_non_editable_install(
    tmp_path: Path, sdist_cache: Path
) -> None:
    venv = tmp_path / "venv"
    uv = Path(sys.executable).parent / "uv"
    subprocess.run([str(uv), "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    subprocess.run(
        [str(uv), "pip", "install", "-q", "-p", str(venv / "bin" / "python"), str(REPO)],
        check=True,
    )
    farm = make_farm(tmp_path / "farm", ["six"], cache=sdist_cache)
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"], "LANG": "C.UTF-8"}
    # What a user's shell holds for the network: the CA bundle this machine uses.
    keep = ("IPWHL_CACHE", "UV_CACHE_DIR", "SSL_CERT_FILE", "SSL_CERT_DIR")
    env |= {k: os.environ[k] for k in keep if k in os.environ}
    result = subprocess.run(
        [
            str(venv / "bin" / "ipwhl"), "--root", str(farm.root), "build", "six",
            "--platform", NATIVE, "--store", str(farm.store), "--build-root",
            str(farm.build_root), "--cache", str(sdist_cache),
        ],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 jobs: 1 built" in result.stdout
    (record,) = [json.loads(p.read_text()) for p in (farm.store / "records").glob("*.json")]
    assert record["project"] == "six" and record["tests"][0] == "import six"
    # The auditor's path through the same install: assemble, then verify the CAR.
    ipwhl = [str(venv / "bin" / "ipwhl"), "--root", str(farm.root)]
    assembled = subprocess.run(
        [*ipwhl, "assemble", "--platform", NATIVE, "--store", str(farm.store),
         "--cache", str(sdist_cache), "--out", str(tmp_path / "public")],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert assembled.returncode == 0, assembled.stdout + assembled.stderr
    (car,) = (tmp_path / "public").glob("*.car")
    verified = subprocess.run(
        [*ipwhl, "verify", str(car), "--out", str(tmp_path / "report")],
        env=env, capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]
    assert "1 of 1 pairs rebuilt here reproduced" in verified.stdout
