from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder.cli import main
from tests.integration.farmcopy import NATIVE, FarmCopy, make_farm


@pytest.fixture(scope="session")
def sdist_cache() -> Path:
    """The real download cache: sdists are verified by sha256, so sharing is safe."""
    return Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl"))


@dataclass(frozen=True, kw_only=True)
class Published:
    farm: FarmCopy  # the farm that built it, store and all
    tree: Path
    car: Path
    root: str


def assemble(farm: FarmCopy, out: Path) -> str:
    """Assemble the native platform's tree into `out`; return its root CID."""
    code = main(["--root", str(farm.root), "assemble", "--store", str(farm.store),
                 "--cache", str(farm.cache), "--out", str(out), "--platform", NATIVE])  # fmt: skip
    assert code == 0
    (car,) = out.glob("*.car")
    return car.name.removesuffix(".car")


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory, sdist_cache: Path) -> Published:
    """six (pure) and markupsafe (C) built and assembled once for the session."""
    base = tmp_path_factory.mktemp("published")
    farm = make_farm(base, ["six", "markupsafe"], cache=sdist_cache)
    assert farm.build("--platform", NATIVE) == 0
    root = assemble(farm, base / "public")
    car = base / "public" / f"{root}.car"
    return Published(farm=farm, tree=base / "public" / "tree", car=car, root=root)
