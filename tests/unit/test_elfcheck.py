"""Which ELF files bind a wheel to one interpreter: real files of this machine."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

from builder.pipeline.elfcheck import interpreter_bound


def test_an_extension_module_binds_a_wheel_to_its_interpreter_and_a_program_does_not() -> None:
    # The interpreter's own shared modules (a venv has none of its own).
    extension = min(Path(sysconfig.get_config_var("DESTSHARED")).glob("_json*.so"))
    program = Path(shutil.which("true") or "/bin/true")
    members = {
        f"demo/{extension.name}": extension.read_bytes(),
        "demo-1.0.data/scripts/true": program.read_bytes(),
    }
    assert interpreter_bound(members) == [
        f"demo/{extension.name}: defines PyInit__json, an extension module"
    ]
    del members[f"demo/{extension.name}"]
    assert interpreter_bound(members) == []


def test_a_tool_that_cannot_start_on_a_root_names_what_the_root_lacks(tmp_path: Path) -> None:
    from builder.pipeline.rooted import unmet_needs
    from tests.fixtures.farm_files import load_real_platforms

    platform = load_real_platforms()["linux-x86_64-cp314"]
    program = Path(shutil.which("true") or "/bin/true")  # Debian's: its loader and libc
    system = tmp_path / "root"
    assert unmet_needs(platform, system, program) == ["/lib64/ld-linux-x86-64.so.2", "libc.so.6"]
    for held in ("lib64/ld-linux-x86-64.so.2", "usr/lib/x86_64-linux-gnu/libc.so.6"):
        (system / held).parent.mkdir(parents=True, exist_ok=True)
        (system / held).touch()
    assert unmet_needs(platform, system, program) == []
