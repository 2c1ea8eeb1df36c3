"""Build locks: each recipe's build requirements, pinned with hashes, per interpreter.

`locks/<recipe>/requirements.in` is what the recipe's sdist asks for (`[build-system]
requires`), its `build.requires` and the frontend; `locks/<recipe>/<cpXY>.txt` is uv's
compilation of it for one interpreter, with the recipe's `build.overrides` applied
(`locks/<recipe>/overrides.txt`). Each recipe resolves alone, so two recipes may need
conflicting versions of a backend. A job installs the closure of its own requirements
from its lock, and that closure is an input of its build.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from builder.errors import LockError

# PEP 517's fallback for projects without [build-system].
LEGACY_REQUIRES = ("setuptools>=40.8.0",)
FRONTEND = "build"  # pypa/build runs the backend inside the build environment


@dataclass(frozen=True, kw_only=True)
class Pin:
    name: str
    version: Version
    hashes: tuple[str, ...]
    required_by: tuple[str, ...]  # normalized names, or "-r" for top level

    def line(self) -> str:
        hashes = " ".join(f"--hash={h}" for h in self.hashes)
        return f"{self.name}=={self.version} {hashes}"


@dataclass(frozen=True, kw_only=True)
class Lock:
    path: Path
    pins: dict[str, Pin]

    def closure(self, requirements: list[Requirement], *, who: str) -> list[Pin]:
        """The pins needed to satisfy `requirements`, transitively, checked against them."""
        wanted: set[str] = set()
        for req in requirements:
            name = canonicalize_name(req.name)
            pin = self.pins.get(name)
            if pin is None:
                raise LockError(
                    f"{who}: build requirement {str(req)!r} is not in {self.path}",
                    fix=f"refresh the recipe's lock: `ipwhl build-lock {self.path.parent.name}`",
                )
            if req.specifier and not req.specifier.contains(pin.version, prereleases=True):
                raise LockError(
                    f"{who}: build requirement {str(req)!r} is not met by the lock's "
                    f"{pin.name}=={pin.version} ({self.path})",
                    fix=f"refresh the recipe's lock: `ipwhl build-lock {self.path.parent.name}`",
                )
            wanted.add(name)
        # A pin belongs to the closure when something in the closure required it.
        changed = True
        while changed:
            changed = False
            for pin in self.pins.values():
                if pin.name not in wanted and wanted.intersection(pin.required_by):
                    wanted.add(pin.name)
                    changed = True
        return [self.pins[n] for n in sorted(wanted)]


_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


@dataclass(kw_only=True)
class _Reading:
    """The pin being read: uv writes a pin's hashes and `# via` lines after it."""

    name: str
    version: str
    hashes: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)

    def pin(self) -> Pin:
        return Pin(
            name=self.name,
            version=Version(self.version),
            hashes=tuple(self.hashes),
            required_by=tuple(sorted(self.via)),
        )


def read_lock(path: Path) -> Lock:
    """Parse a `uv pip compile --generate-hashes` output with its `# via` annotations."""
    if not path.is_file():
        raise LockError(
            f"no build lock {path}", fix=f"run `ipwhl build-lock {path.parent.name}` and commit it"
        )
    readings: list[_Reading] = []
    in_via = False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        current = readings[-1] if readings else None
        if match := _PIN.match(raw):
            readings.append(
                _Reading(
                    name=canonicalize_name(match[1]), version=match[2], hashes=_HASH.findall(raw)
                )
            )
            in_via = False
        elif current is not None and line.startswith("--hash="):
            current.hashes.extend(_HASH.findall(line))
        elif current is not None and line.startswith("# via"):
            rest = line[len("# via") :].strip()
            in_via = not rest
            if rest:
                current.via.add(_via_name(rest))
        elif current is not None and in_via and line.startswith("#   "):
            current.via.add(_via_name(line[1:].strip()))
        elif line and not line.startswith("#"):
            in_via = False
    pins = {r.name: r.pin() for r in readings}
    for pin in pins.values():
        if not pin.hashes:
            raise LockError(
                f"{path}: {pin.name} has no hashes",
                fix=f"run `ipwhl build-lock {path.parent.name}` (it compiles with hashes)",
            )
    return Lock(path=path, pins=pins)


def read_lock_once(path: Path, cache: dict[Path, Lock | None]) -> Lock | None:
    """The lock at `path`, read once per `cache`; None where there is none or it does
    not read (what needs it names the problem: a job's preparation, `ipwhl check`)."""
    if path not in cache:
        try:
            cache[path] = read_lock(path)
        except LockError:
            cache[path] = None
    return cache[path]


def _via_name(text: str) -> str:
    return "-r" if text.startswith("-r") else canonicalize_name(text.split()[0])


def sdist_build_requires(sdist: Path) -> list[str]:
    """The sdist's `[build-system] requires`, read without extracting it."""
    data = _read_pyproject(sdist)
    if data is None:
        return list(LEGACY_REQUIRES)
    system = data.get("build-system")
    if not isinstance(system, dict) or "requires" not in system:
        return list(LEGACY_REQUIRES)
    # An empty list is a backend that builds itself (flit-core, setuptools, hatchling
    # through backend-path): it needs nothing, not the legacy setuptools.
    return [str(r) for r in system["requires"]]


def _read_pyproject(sdist: Path) -> dict[str, object] | None:
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            names = [n for n in archive.namelist() if n.count("/") == 1]
            hit = next((n for n in names if n.endswith("/pyproject.toml")), None)
            return tomllib.loads(archive.read(hit).decode()) if hit else None
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = member.name.strip("./").split("/")
            if len(parts) == 2 and parts[1] == "pyproject.toml" and member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                return tomllib.load(io.BytesIO(handle.read()))
    return None


def parse_requirements(lines: list[str], *, who: str) -> list[Requirement]:
    parsed = []
    for text in lines:
        try:
            parsed.append(Requirement(text))
        except InvalidRequirement as e:
            raise LockError(
                f"{who}: build requirement {text!r} is invalid: {e}",
                fix="correct it in the recipe's build.requires",
            ) from e
    return parsed


def apply_overrides(
    requirements: list[Requirement], overrides: list[Requirement]
) -> list[Requirement]:
    """What a build asks for once a recipe's overrides stand in for everything else
    asked of their projects, as uv's --override applied them to the lock."""
    replaced = {canonicalize_name(r.name) for r in overrides}
    return [r for r in requirements if canonicalize_name(r.name) not in replaced] + overrides


def compile_lock(
    requirements_in: Path,
    out: Path,
    *,
    python_version: str,
    uv: str,
    python: Path | None = None,
    overrides: Path | None = None,
) -> None:
    """Compile `requirements_in` for one interpreter with uv, hashes included: for
    `python` (an interpreter uv can start) when given, else for any CPython of that
    version on Linux. Pins already in `out` are kept where they still fit."""
    target = ["--python", str(python)]
    if python is None:
        target = [
            "--python-version",
            python_version,
            "--python-platform",
            "x86_64-unknown-linux-gnu",
        ]
    result = subprocess.run(
        [
            uv,
            "pip",
            "compile",
            "--quiet",
            "--generate-hashes",
            "--no-header",
            *target,
            *(["--override", str(overrides)] if overrides else []),
            "--output-file",
            str(out),
            str(requirements_in.name),
        ],
        cwd=requirements_in.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise LockError(
            f"uv cannot compile {requirements_in} for Python {python_version}:\n"
            f"{result.stderr.strip()}",
            fix="the recipe's build requirements conflict: replace one with "
            "build.overrides, or pin a version that fits in build.requires",
        )
