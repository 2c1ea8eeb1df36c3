"""The same recipes built here (Debian 12) and in a Debian 13 chroot made with
debootstrap give the same bytes: `nox -s reproduce_elsewhere`, on a small subset."""

from __future__ import annotations

import os
import re
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
    # The runs also build what the two builds install from the set (setuptools, Cython,
    # flit-core, packaging): every wheel counts, the two asked for among them.
    summary = re.search(r"^(\d+) of (\d+) wheels identical on this machine and on trixie$",
                        done.stdout, re.M)  # fmt: skip
    assert summary is not None and summary[1] == summary[2], done.stdout[-3000:]
    for name in ("markupsafe", "pyyaml", "setuptools"):
        assert re.search(rf"^{name} +linux-x86_64-cp312 .* identical$", done.stdout, re.M), name
