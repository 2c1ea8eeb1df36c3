"""Fixtures for the oracle tier: the pinned kubo and one throwaway repo per profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.ipfs.unixfs import load_profiles
from tests.kubo import KuboRepo, init_repo, require_kubo


@pytest.fixture(scope="session")
def kubo() -> Path:
    """The kubo binary; fails under CI (skips elsewhere) if `nox -s kubo` has not run."""
    return require_kubo()


@pytest.fixture(scope="session")
def kubo_repos(kubo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, KuboRepo]:
    """One repo per IPIP-499 profile, made with `ipfs init --profile test,<profile>`."""
    base = tmp_path_factory.mktemp("kubo-repos")
    return {name: init_repo(kubo, base / name, name) for name in load_profiles().profiles}
