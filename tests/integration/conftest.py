from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sdist_cache() -> Path:
    """The real download cache: sdists are verified by sha256, so sharing is safe."""
    return Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl"))
