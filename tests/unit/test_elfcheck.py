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
