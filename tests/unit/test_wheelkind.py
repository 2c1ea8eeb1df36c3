"""A build whose wheel is not the kind its recipe promises is refused, with the fix:
real ELF files of this machine in wheels written by the test."""

from __future__ import annotations

import shutil
import sysconfig
import zipfile
from pathlib import Path

import pytest

from builder.errors import BuildError
from builder.pipeline.plan import Job
from builder.pipeline.wheelkind import refuse_a_mislabelled_wheel
from tests.fixtures.farm_files import load_real_platforms, load_recipe, recipe_doc

CP312 = "linux-x86_64-cp312"


def wheel_with(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr("demo_pkg-1.0.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return path


def job_of(tmp_path: Path, **build: bool) -> Job:
    recipe = load_recipe(tmp_path / "recipes", recipe_doc(pure=False, **build))
    return Job(recipe=recipe, platform=load_real_platforms(CP312)[CP312])


def test_a_program_holding_an_extension_module_is_refused(tmp_path: Path) -> None:
    extension = min(Path(sysconfig.get_config_var("DESTSHARED")).glob("_json*.so"))
    wheel = wheel_with(
        tmp_path / "dist" / "demo_pkg-1.0.0-py3-none-linux_x86_64.whl",
        {"demo_pkg/_json.cpython-312-x86_64-linux-gnu.so": extension.read_bytes()},
    )
    with pytest.raises(BuildError) as caught:
        refuse_a_mislabelled_wheel(job_of(tmp_path, program=True), wheel, tmp_path / "log")
    assert "defines PyInit__json" in str(caught.value)
    assert "remove `program = true`" in (caught.value.fix or "")


def test_a_compiled_wheel_for_every_interpreter_needs_program(tmp_path: Path) -> None:
    program = Path(shutil.which("true") or "/bin/true").read_bytes()
    wheel = wheel_with(
        tmp_path / "dist" / "demo_pkg-1.0.0-py3-none-linux_x86_64.whl",
        {"demo_pkg-1.0.0.data/scripts/true": program},
    )
    with pytest.raises(BuildError) as caught:
        refuse_a_mislabelled_wheel(job_of(tmp_path), wheel, tmp_path / "log")
    assert "set `program = true`" in (caught.value.fix or "")
    # With the flag the same wheel is what the recipe promises.
    refuse_a_mislabelled_wheel(job_of(tmp_path / "b", program=True), wheel, tmp_path / "log")
