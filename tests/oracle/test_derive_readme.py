"""The README's "Deriving your own repository", as a new user runs it: a fresh
directory, a non-editable install of the farm, a CID published to a real kubo daemon,
and nothing else. derive -> build (nothing) -> assemble (the upstream CID) -> a change
-> assemble -> publish -> pip install through the gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.ipfs.car import read_car
from tests.fixtures.published import Published
from tests.integration.farmcopy import NATIVE, REPO
from tests.kubo import running_daemon

pytestmark = [pytest.mark.kubo, pytest.mark.network, pytest.mark.slow]


def test_the_readme_derivation_from_a_cid_to_an_install(
    published: Published,
    kubo: Path,
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    uv = Path(sys.executable).parent / "uv"
    subprocess.run([str(uv), "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    subprocess.run([str(uv), "pip", "install", "-q", "-p", str(venv / "bin" / "python"),
                    str(REPO)], check=True)  # fmt: skip
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": os.environ["HOME"],
           "LANG": "C.UTF-8", "IPWHL_CACHE": str(published.farm.cache)}  # fmt: skip
    user = tmp_path / "fresh"
    user.mkdir()
    # The builds are told where they run; the publisher's tests built elsewhere than
    # the default, so the user names the same build root.
    root_flag = ["--build-root", str(published.farm.build_root)]

    def ipwhl(*args: str, cwd: Path = user) -> str:
        done = subprocess.run(["ipwhl", *args], cwd=cwd, env=env, capture_output=True,
                              text=True, check=False)  # fmt: skip
        assert done.returncode == 0, f"ipwhl {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    with running_daemon(kubo, tmp_path / "kubo") as node:
        ipwhl("publish", str(published.car), "--api", node.api_url, "--gateway", node.gateway_url)
        # derive SOURCE mine: the CID, read through the local kubo, every block checked.
        out = ipwhl("derive", published.root, "mine", "--api", node.api_url)
        assert f"from {published.root}: 2 recipes, 2 build records seeded" in out
        mine = user / "mine"
        assert "2 jobs: 2 cached" in ipwhl("build", "--platform", NATIVE, *root_flag, cwd=mine)
        out = ipwhl("assemble", "--platform", NATIVE, cwd=mine)
        assert f"root CID: {published.root}" in out
        # A change costs what it changes: drop six; nothing is built.
        (mine / "recipes" / "six.toml").unlink()
        assert "1 jobs: 1 cached" in ipwhl("build", "--platform", NATIVE, *root_flag, cwd=mine)
        out = ipwhl("assemble", "--platform", NATIVE, cwd=mine)
        derived = out.split("root CID: ", 1)[1].split()[0]
        assert derived != published.root
        diff = ipwhl("diff", published.root, "public/tree", "--api", node.api_url, cwd=mine)
        assert "0 projects added, 1 removed" in diff
        # The derived tree shares every unchanged block with upstream: the markupsafe wheel.
        _, theirs = read_car(published.car)
        _, ours = read_car(mine / "public" / f"{derived}.car")
        wheel = next((mine / "public" / "tree" / "markupsafe").glob("*.whl"))
        shared = set(theirs) & set(ours)
        assert sum(len(ours[c]) for c in shared) >= wheel.stat().st_size
        ipwhl("publish", str(mine / "public" / f"{derived}.car"), "--api", node.api_url,
              "--gateway", node.gateway_url)  # fmt: skip
        target = tmp_path / "site"
        index = f"{node.gateway_url}/ipfs/{derived}/"
        install = [str(uv), "pip", "install", "-q", "--target", str(target), "--python-version",
                   "3.12", "--no-cache", "--index-url", index, "markupsafe"]  # fmt: skip
        subprocess.run(install, check=True, env={**os.environ, "UV_NO_CONFIG": "1"})
        assert (target / "markupsafe").is_dir()
