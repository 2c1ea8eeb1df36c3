"""Throwaway farms for integration tests: real recipes, platforms and locks, copied.

Each test gets its own checkout path, store and build root, so tests can run in any
order and never see each other's wheels.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from builder.cli import main

REPO = Path(__file__).resolve().parents[2]
NATIVE = "linux-x86_64-cp312"


@dataclass(frozen=True, kw_only=True)
class FarmCopy:
    root: Path
    store: Path
    build_root: Path
    cache: Path

    def build_argv(self, *args: str) -> list[str]:
        return ["--root", str(self.root), "build", "--store", str(self.store), "--build-root",
                str(self.build_root), "--cache", str(self.cache), *args]  # fmt: skip

    def build(self, *args: str) -> int:
        return main(self.build_argv(*args))

    def start_build(self, *args: str) -> subprocess.Popen[bytes]:
        """The same build in a process of its own, to run beside another: a test that
        compares two farms waits for the slower one, not for both in turn."""
        return subprocess.Popen([sys.executable, "-m", "builder", *self.build_argv(*args)])

    def wheels(self) -> dict[tuple[str, str], str]:
        """(project, platform) -> wheel sha256, from the store's records."""
        import json

        found = {}
        for path in sorted((self.store / "records").glob("*.json")):
            data = json.loads(path.read_text())
            found[(data["project"], data["platform"])] = data["wheel_sha256"]
        return found

    def write_recipe(self, name: str, text: str, *, locks_of: str | None = "coverage") -> Path:
        """A recipe of the test's own, with the build locks of a real recipe that asks
        for the same (coverage's sdist asks for plain setuptools, as generated sdists
        do, and is locked for every interpreter), or none."""
        path = self.root / "recipes" / f"{name}.toml"
        path.write_text(text)
        if locks_of is None:
            return path
        locks = self.root / "locks" / name
        locks.mkdir(parents=True, exist_ok=True)
        for lock in (REPO / "locks" / locks_of).glob("*.txt"):
            shutil.copy(lock, locks)
        return path


def make_farm(base: Path, recipes: list[str], *, cache: Path) -> FarmCopy:
    """A farm at `base` holding copies of the repo's `recipes`, and all its platforms,
    locks and native libraries."""
    root = base / "checkout"
    (root / "recipes").mkdir(parents=True)
    for name in recipes:
        shutil.copy(REPO / "recipes" / f"{name}.toml", root / "recipes")
    shutil.copytree(REPO / "platforms", root / "platforms")
    for name in recipes:
        shutil.copytree(REPO / "locks" / name, root / "locks" / name)
    shutil.copytree(REPO / "libraries", root / "libraries")
    shutil.copytree(REPO / "roots", root / "roots")
    return FarmCopy(root=root, store=base / "store", build_root=base / "build-root", cache=cache)


def sdist_bytes(name: str, version: str, files: dict[str, str]) -> bytes:
    """A generated sdist, byte for byte the same on every call."""
    # Every sdist carries PKG-INFO; the farm checks it names the recipe's release.
    files = {"PKG-INFO": f"Metadata-Version: 2.2\nName: {name}\nVersion: {version}\n", **files}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for path, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{version}/{path}")
            info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_sdist(cache: Path, name: str, version: str, files: dict[str, str]) -> tuple[str, str]:
    """Write a generated sdist into the download cache; return (url, sha256).

    The cache is keyed by sha256, which is what the fetch stage trusts, so a recipe
    pinning this hash finds it there without a server.
    """
    blob = sdist_bytes(name, version, files)
    sha = hashlib.sha256(blob).hexdigest()
    filename = f"{name}-{version}.tar.gz"
    target = cache / "sdists" / sha / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(blob)
    return f"https://example.invalid/{filename}", sha


def pyproject(name: str, requires: str, backend: str) -> str:
    """A generated sdist's pyproject.toml: `requires` is one requirement, `backend` its
    build-backend."""
    return (f'[build-system]\nrequires = ["{requires}"]\nbuild-backend = "{backend}"\n'
            f'[project]\nname = "{name}"\nversion = "1.0"\n')  # fmt: skip


def recipe_head(name: str, url: str, sha256: str, version: str = "1.0") -> str:
    """The [project] and [source] tables of a test's own recipe (MIT), to which the
    test adds its [build] and [test]."""
    return (f'[project]\nname = "{name}"\nversion = "{version}"\nlicense = "MIT"\n'
            f'[source]\nurl = "{url}"\nsha256 = "{sha256}"\n')  # fmt: skip


def snapshot(directory: Path) -> dict[str, str]:
    if not directory.exists():
        return {}
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }
