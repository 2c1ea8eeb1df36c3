"""The set builds its own build backends: pathspec is built with the set's flit-core,
which built itself on the seed alone, and the bytes equal those PyPI's flit-core makes.
Real sdists, real uv, real builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from builder.model.farm import load_farm
from builder.pipeline import collection
from builder.pipeline.plan import build_graph
from builder.pipeline.run import select
from builder.pipeline.store import Store
from tests.integration.farmcopy import NATIVE, make_farm

pytestmark = [pytest.mark.network, pytest.mark.slow]

SEED = {"build", "packaging", "pyproject-hooks"}


def _records(store: Path) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((store / "records").glob("*.json")):
        record = json.loads(path.read_text())
        if record["platform"] == NATIVE:
            found.setdefault(record["project"], []).append(record)
    return found


def _names(record: dict[str, Any]) -> set[str]:
    return {line.split("==")[0] for line in record["inputs"]["build-requirements"]}


def test_a_backend_of_the_set_builds_the_set_and_makes_the_same_bytes_as_pypis(
    tmp_path: Path, sdist_cache: Path
) -> None:
    farm = make_farm(tmp_path, ["flit-core", "pathspec"], cache=sdist_cache)
    # Only pathspec is asked for: its build installs flit-core, so the run builds it.
    assert farm.build("pathspec", "--platform", NATIVE) == 0
    records = _records(farm.store)
    (flit,) = records["flit-core"]
    (own,) = records["pathspec"]
    # flit-core builds itself from its own tree, on the seed alone.
    assert _names(flit) == SEED and flit["inputs"]["build-depends"] == {}
    # pathspec's environment: the seed from PyPI, flit-core the set's own wheel.
    assert _names(own) == SEED
    assert own["inputs"]["build-depends"] == {"flit-core": flit["wheel_sha256"]}

    # The same build with PyPI's flit-core (same version, by hash) gives the same bytes:
    # the backend built here is a fixed point of the one PyPI serves.
    assert farm.build("pathspec", "--platform", NATIVE, "--backends-from", "pypi") == 0
    records = _records(farm.store)
    assert len(records["flit-core"]) == 1  # same inputs: the store's answer
    (pypi,) = [r for r in records["pathspec"] if r["input_hash"] != own["input_hash"]]
    assert "flit-core" in _names(pypi) and pypi["inputs"]["build-depends"] == {}
    assert pypi["wheel_sha256"] == own["wheel_sha256"]

    # The set's current wheel is the one its own backend built: a PyPI-built record is
    # a comparison, never what the tree publishes.
    current = collection.current(load_farm(farm.root), Store(root=farm.store))
    assert current.wheels[("pathspec", NATIVE)].input_hash == own["input_hash"]


def test_an_abi3_build_on_its_base_interpreter_gets_the_sets_backends_built_there() -> None:
    """A run of cp312 alone builds cryptography on cp311 (abi3: its base), which installs
    the set's cffi: cffi is planned on cp311 too, and the graph never hands the cp311
    build cffi's cp312 wheel."""
    farm = load_farm(Path(__file__).resolve().parents[2])
    jobs = select(farm, ["cryptography"], [NATIVE]).jobs
    keys = {job.key for job in jobs}
    base = "linux-x86_64-cp311"
    assert f"cryptography@{base}" in keys and f"cffi@{base}" in keys
    needs = build_graph(jobs)[f"cryptography@{base}"]
    assert f"cffi@{base}" in needs and f"cffi@{NATIVE}" not in needs
