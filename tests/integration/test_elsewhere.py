"""The same recipes built here (Debian 12) and in a Debian 13 chroot made with
debootstrap give the same bytes: `nox -s reproduce_elsewhere`, on a small subset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.farmcopy import REPO

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap, mounts and chroot need root")
def test_wheels_built_on_debian_13_are_the_same_bytes(sdist_cache: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "elsewhere.py"), "markupsafe", "pyyaml"],
        capture_output=True, text=True, check=False,
        env={**os.environ, "IPWHL_CACHE": str(sdist_cache)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 of 2 wheels identical on this machine and on trixie" in done.stdout
    assert "markupsafe               linux-x86_64-cp312" in done.stdout
