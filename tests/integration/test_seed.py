"""The published tree as the cache: a store seeded from it builds only what changed."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from builder.cli import main
from tests.fixtures.published import Published, assemble
from tests.integration.farmcopy import NATIVE, REPO, FarmCopy, make_farm

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _checkout(published: Published, base: Path) -> FarmCopy:
    """Another checkout of the same recipes with an empty store: what a CI runner has.
    The build root is an input of every job, so it is the publisher's (as in CI, where
    both use the default)."""
    farm = make_farm(base, ["six", "markupsafe"], cache=published.farm.cache)
    return replace(farm, build_root=published.farm.build_root)


def test_a_store_seeded_from_the_car_builds_nothing_and_reassembles_the_cid(
    published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = _checkout(published, tmp_path)
    assert farm.build("--platform", NATIVE, "--from", str(published.car)) == 0
    out = capsys.readouterr().out
    assert f"seeded (root {published.root}): 2 records added" in out
    assert "2 jobs: 2 cached" in out
    assert assemble(farm, tmp_path / "public") == published.root


def test_a_one_recipe_change_builds_that_recipe_only(
    published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = _checkout(published, tmp_path)
    recipe = farm.root / "recipes" / "markupsafe.toml"
    text = (REPO / "recipes" / "markupsafe.toml").read_text()
    recipe.write_text(text.replace("[build]\n", '[build]\nenv = { EXAMPLE_WITH_FLAG = "1" }\n', 1))
    assert farm.build("--platform", NATIVE, "--from", str(published.car)) == 0
    out = capsys.readouterr().out
    assert "2 jobs: 1 built, 1 cached" in out
    records = [json.loads(p.read_text()) for p in (tmp_path / "store" / "records").glob("*")]
    by_project = {r["project"]: r for r in records if r["platform"] == NATIVE}
    published_six = json.loads((published.tree / "manifest.json").read_text())["projects"]["six"]
    assert by_project["six"]["input_hash"] == published_six["platforms"][NATIVE]["input_hash"]


def test_a_record_whose_inputs_were_changed_is_refused_and_nothing_is_seeded(
    published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(published.tree, tree)
    manifest = json.loads((tree / "manifest.json").read_text())
    inputs = manifest["projects"]["six"]["platforms"][NATIVE]["inputs"]
    inputs["recipe"] = "something else"  # the input hash no longer fits
    (tree / "manifest.json").write_text(json.dumps(manifest))
    store = tmp_path / "store"
    assert main(["seed", str(tree), "--store", str(store), "--cache", str(tmp_path / "c")]) == 4
    err = capsys.readouterr().err
    assert "the record of six on linux-x86_64-cp312 names input hash" in err
    assert not (store / "records").exists()
