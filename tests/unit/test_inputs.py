"""A job's inputs by meaning: a golden file makes every change of them visible in review.

Regenerate with `IPWHL_UPDATE_GOLDEN=1 pytest tests/unit/test_inputs.py` and read the
diff: every changed line rebuilds the jobs it belongs to.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from builder.errors import SdistError
from builder.model.farm import load_farm
from builder.model.lock import Lock, Pin
from builder.pipeline import normalize
from builder.pipeline.backends import backend_for
from builder.pipeline.inputs import build_inputs
from builder.pipeline.plan import Job
from builder.pipeline.sdistfacts import sdist_facts
from tests.fixtures.farm_files import make_farm, platform_doc, recipe_doc

GOLDEN = Path(__file__).parent / "golden" / "inputs.json"
# What the machine reports, not the recipe or the farm: masked so that the golden file
# holds on any machine, while its keys still show what is recorded.
MACHINE = {"interpreter", "interpreter-version", "toolchain", "zlib"}
HASH = "sha256:" + "0" * 64


def _lock() -> Lock:
    def pin(name: str, version: str, *by: str) -> Pin:
        return Pin(name=name, version=Version(version), hashes=(HASH,), required_by=by)

    pins = [
        pin("build", "1.6.1", "-r"),
        pin("packaging", "26.4", "build"),
        pin("pyproject-hooks", "1.2.0", "build"),
        pin("setuptools", "80.9.0", "-r"),
    ]
    return Lock(path=Path("locks/cp312.txt"), pins={p.name: p for p in pins})


def _sdist(path: Path) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as archive:
        data = b'[build-system]\nrequires = ["setuptools"]\n'
        info = tarfile.TarInfo("demo-1.0.0/pyproject.toml")
        info.size, info.mtime = len(data), 1700000000
        archive.addfile(info, io.BytesIO(data))
    return path


def _mask(value: Any, key: str = "") -> Any:
    if key in MACHINE:
        if isinstance(value, dict):
            return {k: "<machine>" for k in sorted(value)}
        return "<machine>" if value else value
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in sorted(value.items())}
    return value


def _jobs(tmp_path: Path) -> dict[str, Job]:
    root = make_farm(
        tmp_path / "farm",
        {
            "demo-pure": recipe_doc("demo-pure", pure=True),
            "demo-ext": recipe_doc(
                "demo-ext",
                env={"DEMO_WITH_FLAG": "1"},
                **{"config-settings": {"--build-option": "--fast"}},
            ),
        },
        {
            "linux-x86_64-cp312": platform_doc("linux-x86_64-cp312", pure=True),
            "macos-arm64-cp312": platform_doc(
                "macos-arm64-cp312", backend="cibuildwheel", policy="macosx_11_0_arm64"
            ),
        },
    )
    farm = load_farm(root)
    native, macos = farm.platforms["linux-x86_64-cp312"], farm.platforms["macos-arm64-cp312"]
    return {
        "pure on linux-x86_64-cp312": Job(recipe=farm.recipes["demo-pure"], platform=native),
        "C extension on linux-x86_64-cp312": Job(recipe=farm.recipes["demo-ext"], platform=native),
        "C extension on macos-arm64-cp312 (cibuildwheel)": Job(
            recipe=farm.recipes["demo-ext"], platform=macos
        ),
    }


def _inputs(job: Job, sdist: Path) -> dict[str, Any]:
    return build_inputs(
        job,
        backend=backend_for(job.platform),
        sdist=sdist_facts(sdist, "1" * 64, sdist.parent / "cache"),
        sdist_sha256="1" * 64,
        lock=_lock(),
        depends={},
        build_root=Path("/tmp/ipwhl-build"),
        isolate_network=True,
        libraries={},
        sandbox="bubblewrap 0.8.0",
    ).values


def test_inputs_of_a_few_jobs_match_the_golden_file(tmp_path: Path) -> None:
    sdist = _sdist(tmp_path / "demo-1.0.0.tar.gz")
    found = {name: _mask(_inputs(job, sdist)) for name, job in _jobs(tmp_path).items()}
    for values in found.values():  # recipe and platform hashes depend on the test's files
        values["recipe"] = values["platform"] = "<file sha256>"
    text = json.dumps(found, indent=2, sort_keys=True) + "\n"
    if os.environ.get("IPWHL_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "inputs changed: regenerate the golden file and review"


def test_a_pure_recipe_names_no_toolchain_and_no_interpreter_build(tmp_path: Path) -> None:
    sdist = _sdist(tmp_path / "demo-1.0.0.tar.gz")
    jobs = _jobs(tmp_path)
    pure = _inputs(jobs["pure on linux-x86_64-cp312"], sdist)
    ext = _inputs(jobs["C extension on linux-x86_64-cp312"], sdist)
    assert pure["toolchain"] == {} and pure["interpreter"] == ""
    assert pure["shaping"]["repair"] == {}
    assert set(ext["toolchain"]) == {"cc", "libc", "ld", "machine"}
    assert ext["interpreter"].startswith(ext["interpreter-version"])


def test_a_flag_changes_the_jobs_it_touches_and_a_normalizer_constant_changes_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdist = _sdist(tmp_path / "demo-1.0.0.tar.gz")
    jobs = _jobs(tmp_path)
    before = {name: _inputs(job, sdist) for name, job in jobs.items()}
    monkeypatch.setattr(normalize, "_COMPRESSLEVEL", 9)
    after = {name: _inputs(job, sdist) for name, job in jobs.items()}
    assert all(before[n]["normalize"] != after[n]["normalize"] for n in jobs)
    monkeypatch.undo()
    # The recipe's environment reaches the backend's environment, and only its jobs.
    ext = before["C extension on linux-x86_64-cp312"]
    assert ext["shaping"]["environment"]["DEMO_WITH_FLAG"] == "1"
    assert "DEMO_WITH_FLAG" not in before["pure on linux-x86_64-cp312"]["shaping"]["environment"]
    assert "--config-setting=--build-option=--fast" in ext["shaping"]["frontend"]


def test_sdist_facts_are_read_once_and_kept_by_sha256(tmp_path: Path) -> None:
    sdist = _sdist(tmp_path / "demo-1.0.0.tar.gz")
    cache = tmp_path / "cache"
    first = sdist_facts(sdist, "2" * 64, cache)
    assert first.newest_mtime == 1700000000 and first.build_requires == ("setuptools",)
    sdist.unlink()  # a second read needs only the memo: the bytes it came from are fixed
    assert sdist_facts(sdist, "2" * 64, cache) == first
    (cache / "sdist-facts" / f"{'2' * 64}.json").write_text("{damaged")
    with pytest.raises(SdistError, match="cannot be read"):  # recomputed, not trusted
        sdist_facts(sdist, "2" * 64, cache)
