"""Find this machine's interpreter for a platform, or say it has none.

pyenv installs CPython 3.8-3.13 here but only its global one answers on PATH, so the
pyenv root and uv's managed interpreters are searched too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from builder.atomic import write_atomic
from builder.paths import default_cache


@dataclass(frozen=True, kw_only=True)
class Interpreter:
    path: Path
    version: str  # full version, e.g. 3.12.1
    build: str  # sys.version: compiler and build date, an input of every build


_PROBE = (
    "import json, sys, platform;"
    "print(json.dumps({'v': platform.python_version(), 'b': sys.version,"
    " 'impl': sys.implementation.name}))"
)


def _candidates(version: str) -> list[Path]:
    found: list[Path] = []
    exe = f"python{version}"
    roots = [Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"]
    for root in roots:
        if root.is_dir():
            # Newest patch release first: sort by the numeric version, not the string.
            dirs = sorted(
                (d for d in root.iterdir() if d.name.startswith(f"{version}.")),
                key=lambda d: [int(x) if x.isdigit() else 0 for x in d.name.split(".")],
                reverse=True,
            )
            found += [d / "bin" / exe for d in dirs]
    uv_root = Path(
        os.environ.get("UV_PYTHON_INSTALL_DIR", Path.home() / ".local" / "share" / "uv" / "python")
    )
    if uv_root.is_dir():
        found += sorted(uv_root.glob(f"cpython-{version}.*/bin/{exe}"), reverse=True)
    on_path = shutil.which(exe)
    if on_path and "shims" not in on_path:
        found.append(Path(on_path))
    return [p for p in found if p.is_file()]


def _probe(path: Path) -> dict[str, str] | None:
    """What the interpreter at `path` says of itself, remembered while the executable
    file is unchanged (its size and times): starting five interpreters cost a second of
    every run, cached or not."""
    try:
        st = path.resolve().stat()
    except OSError:
        return None
    stamp = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    memo = (
        default_cache()
        / "interpreters"
        / (hashlib.sha256(str(path).encode()).hexdigest() + ".json")
    )
    try:
        known = json.loads(memo.read_bytes())
        if known["stamp"] == stamp:
            return dict(known["info"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        out = subprocess.run(
            [str(path), "-I", "-c", _PROBE], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        info = {k: str(v) for k, v in json.loads(out).items()}
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    write_atomic(memo, json.dumps({"stamp": stamp, "info": info}))
    return info


@cache
def find_interpreter(python_version: str) -> Interpreter | None:
    for path in _candidates(python_version):
        info = _probe(path)
        if info and info["impl"] == "cpython" and info["v"].startswith(f"{python_version}."):
            return Interpreter(path=path, version=info["v"], build=info["b"])
    return None
