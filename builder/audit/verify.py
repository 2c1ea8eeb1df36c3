"""The auditor: rebuild a published tree from its own sources and compare every wheel.

Nothing is taken from a recipe checkout: recipes, patches, sdists, platform files and
build locks all come from the tree (`_sources/`), and every file is checked against
`manifest.json` before it is used. Rebuilds run under deliberate variation, the way
reprotest does, so that "reproduced" means more than "built twice the same way".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from builder.errors import IpwhlError
from builder.tree.layout import FARM_DIR, SOURCES_DIR

SOURCES, FARM = SOURCES_DIR, FARM_DIR


class Verdict(StrEnum):
    REPRODUCED = "reproduced"
    DIFFERS = "differs"
    TOOLCHAIN_DIFFERS = "toolchain differs"
    FAILED = "failed"
    NOT_BUILDABLE = "not buildable here"


@dataclass(frozen=True, kw_only=True)
class Variation:
    """What a rebuild changes on purpose; none of it may change a wheel."""

    build_root: Path
    tz: str = "Pacific/Chatham"  # UTC+12:45: an offset nobody builds in
    locale: str = "fr_FR.UTF-8"
    umask: int = 0o002
    hostname: str = "ipwhl-verify"
    jobs: int = 1
    noise: tuple[tuple[str, str], ...] = (
        ("CFLAGS_FROM_CALLER", "-O0"),
        ("PYTHONHASHSEED", "12345"),
        ("SOURCE_DATE_EPOCH", "0"),
        ("HOME", "/nonexistent"),
    )

    def describe(self) -> dict[str, str]:
        return {
            "build root": str(self.build_root),
            "clock": "the time of this rebuild",
            "TZ": self.tz,
            "locale": self.locale,
            "umask": oct(self.umask),
            "hostname": self.hostname,
            "parallel jobs": str(self.jobs),
            "environment noise": ", ".join(f"{k}={v}" for k, v in self.noise),
        }


@dataclass(frozen=True, kw_only=True)
class Row:
    project: str
    platform: str
    verdict: Verdict
    wheel: str = ""
    published: str = ""
    rebuilt: str = ""
    detail: str = ""
    diff_text: str = ""  # paths relative to the report directory
    diff_html: str = ""
    log: str = ""
    toolchains: dict[str, dict[str, str]] = field(default_factory=dict)


def reconstruct(tree: Path, manifest: dict[str, Any], work: Path) -> tuple[Path, Path]:
    """A farm checkout and a seeded sdist cache, from the tree alone."""
    checkout, cache = work / "checkout", work / "cache"
    (checkout / "recipes").mkdir(parents=True)
    farm = tree / SOURCES / FARM
    if not (farm / "platforms").is_dir() or not (farm / "locks").is_dir():
        raise IpwhlError(
            f"{tree} has no {SOURCES}/{FARM}/platforms or locks",
            fix="the tree was assembled by an older farm; reassemble it",
        )
    shutil.copytree(farm / "platforms", checkout / "platforms")
    shutil.copytree(farm / "locks", checkout / "locks")
    for kind in ("libraries", "roots"):
        if (farm / kind).is_dir():
            shutil.copytree(farm / kind, checkout / kind)
    # Library sources, where the build's fetch finds them (check_files hashed each).
    if (farm / "library-sources").is_dir():
        shutil.copytree(farm / "library-sources", cache / "libraries")
    if (farm / "crates").is_dir():
        shutil.copytree(farm / "crates", cache / "crates")
    for project, entry in sorted(manifest["projects"].items()):
        base = tree / SOURCES / project
        shutil.copy(base / f"{project}.toml", checkout / "recipes" / f"{project}.toml")
        if entry.get("patches"):
            shutil.copytree(base / "patches", checkout / "recipes" / "patches" / project)
        sdist = entry["sdist"]
        # The fetch stage trusts its cache by path; check_files already hashed this file.
        seeded = cache / "sdists" / sdist["sha256"] / sdist["filename"]
        seeded.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(base / sdist["filename"], seeded)
    return checkout, cache


def published_platforms(manifest: dict[str, Any]) -> list[str]:
    """The platforms the tree has wheels for: those, and no other, are rebuilt."""
    return sorted({p for entry in manifest["projects"].values() for p in entry["platforms"]})


def rebuild(
    checkout: Path,
    cache: Path,
    store: Path,
    variation: Variation,
    log: Path,
    platforms: list[str] | None = None,
) -> int:
    """Run `ipwhl build` in a child process under the variation; stream its output.
    `platforms`: only those (a tree's own; its platform files may name more)."""
    env = {k: v for k, v in os.environ.items() if k not in ("IPWHL_STORE",)}
    # HOME changes on purpose below; where this machine's interpreters live does not.
    env.setdefault("PYENV_ROOT", str(Path.home() / ".pyenv"))
    env.setdefault("UV_PYTHON_INSTALL_DIR", str(Path.home() / ".local" / "share" / "uv" / "python"))
    env.update({"TZ": variation.tz, "LANG": variation.locale, "LC_ALL": variation.locale})
    env.update(dict(variation.noise))
    command = [
        sys.executable, "-m", "builder", "--root", str(checkout), "build",
        "--store", str(store), "--cache", str(cache),
        "--build-root", str(variation.build_root), "-j", str(variation.jobs),
        *(arg for pid in platforms or () for arg in ("--platform", pid)),
    ]  # fmt: skip
    if _uts_namespace_works():
        # A UTS namespace of its own: the hostname changes for this build only.
        script = 'hostname "$0" && exec "$@"'
        command = ["unshare", "--uts", "sh", "-c", script, variation.hostname, *command]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            umask=variation.umask,
        )  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
        return process.wait()


def _uts_namespace_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--uts", "sh", "-c", "hostname ipwhl-probe"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def _toolchain(inputs: dict[str, Any]) -> dict[str, str]:
    """What of a build's inputs is the machine's, not the recipe's: compilers, the
    interpreter, the farm's tools, the deflate implementation."""
    found = {k: str(v) for k, v in inputs.get("toolchain", {}).items()}
    found |= {k: str(v) for k, v in inputs.get("tools", {}).items()}
    repair = inputs.get("shaping", {}).get("repair", {})
    found |= {k: str(repair[k]) for k in ("auditwheel", "patchelf") if k in repair}
    if "zlib" in inputs.get("normalize", {}):
        found["zlib"] = str(inputs["normalize"]["zlib"])
    for key in ("interpreter", "interpreter-version"):
        if inputs.get(key):
            found[key] = str(inputs[key])
    return found


def compare(
    tree: Path,
    manifest: dict[str, Any],
    store: Path,
    buildable: dict[str, str | None],
    reports: Path,
) -> list[Row]:
    rebuilt: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((store / "records").glob("*.json")):
        record = json.loads(path.read_text())
        rebuilt[(record["project"], record["platform"])] = record
    rows = []
    for project, entry in sorted(manifest["projects"].items()):
        for platform, published in sorted(entry["platforms"].items()):
            why = buildable.get(platform, "no platform file")
            log = f"logs/{platform}/{project}.log"
            if why is not None:
                rows.append(Row(project=project, platform=platform, wheel=published["wheel"],
                                verdict=Verdict.NOT_BUILDABLE, published=published["sha256"],
                                detail=why))  # fmt: skip
                continue
            record = rebuilt.get((project, platform))
            if record is None:
                rows.append(Row(project=project, platform=platform, wheel=published["wheel"],
                                verdict=Verdict.FAILED, published=published["sha256"],
                                detail="the rebuild made no wheel; see its log",
                                log=log))  # fmt: skip
                continue
            row = Row(project=project, platform=platform, wheel=published["wheel"],
                      verdict=Verdict.REPRODUCED, published=published["sha256"],
                      rebuilt=record["wheel_sha256"], log=log)  # fmt: skip
            if record["wheel_sha256"] != published["sha256"]:
                theirs = _toolchain(published["inputs"])
                mine = _toolchain(record["inputs"])
                if published["inputs"].get("kind") == "build" and theirs != mine:
                    changed = {k for k in theirs.keys() | mine.keys()
                               if theirs.get(k) != mine.get(k)}  # fmt: skip
                    row = _replace(row, verdict=Verdict.TOOLCHAIN_DIFFERS,
                                   detail=f"toolchain differs in: {', '.join(sorted(changed))}",
                                   toolchains={"published": theirs, "rebuilt": mine})  # fmt: skip
                else:
                    row = _replace(row, verdict=Verdict.DIFFERS)
                row = _diff(row, tree / project / row.wheel, store, record, reports)
            rows.append(row)
    return rows


def _replace(row: Row, **changes: Any) -> Row:
    from dataclasses import replace

    return replace(row, **changes)


def _diff(row: Row, theirs: Path, store: Path, record: dict[str, Any], reports: Path) -> Row:
    """A diffoscope report (text and HTML) of the two wheels, and its first lines."""
    ours = store / "blobs" / record["wheel_sha256"]
    stem = f"diffs/{row.project}-{row.platform}"
    (reports / "diffs").mkdir(parents=True, exist_ok=True)
    # diffoscope names the inputs by path; give both the wheel's own name.
    pair = reports.parent / "pairs" / f"{row.project}-{row.platform}"
    left, right = pair / "published" / row.wheel, pair / "rebuilt" / row.wheel
    for copy, original in ((left, theirs), (right, ours)):
        # Copies, not links: diffoscope would compare link targets, not the wheels.
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, copy)
    diffoscope = shutil.which("diffoscope", path=str(Path(sys.executable).parent)) or shutil.which(
        "diffoscope"
    )
    if diffoscope is None:
        return _replace(row, detail=(row.detail + "; diffoscope is not installed").lstrip("; "))
    text_report, html_report = reports / f"{stem}.txt", reports / f"{stem}.html"
    subprocess.run(
        [diffoscope, "--text", str(text_report), "--html", str(html_report),
         "--max-report-size", "2000000", str(left), str(right)],
        capture_output=True, check=False, timeout=900,
    )  # fmt: skip
    text = text_report.read_text(errors="replace") if text_report.exists() else ""
    head = "\n".join(line for line in text.splitlines()[:12])
    detail = f"{row.detail}\n{head}".strip()
    return _replace(row, detail=detail, diff_text=f"{stem}.txt", diff_html=f"{stem}.html")
