"""The published tree as the cache: a store seeded from it builds only what changed."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from builder.cli import main
from tests.integration.conftest import Published, assemble
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
    recipe.write_text(text.replace("[build]\n", '[build]\nenv = { IPWHL_EXAMPLE = "1" }\n', 1))
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


def test_derive_writes_a_farm_that_rebuilds_nothing_and_assembles_the_upstream_cid(
    published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "derived"
    code = main(["derive", str(published.car), str(target), "--cache", str(published.farm.cache)])
    assert code == 0
    assert f'root = "{published.root}"' in (target / "upstream.toml").read_text()
    for name in ("six", "markupsafe"):
        original = (published.farm.root / "recipes" / f"{name}.toml").read_bytes()
        assert (target / "recipes" / f"{name}.toml").read_bytes() == original
    assert sorted(p.name for p in (target / "platforms").iterdir()) == sorted(
        p.name for p in (published.farm.root / "platforms").iterdir()
    )
    farm = FarmCopy(root=target, store=target / "store", build_root=published.farm.build_root,
                    cache=published.farm.cache)  # fmt: skip
    capsys.readouterr()
    assert farm.build("--platform", NATIVE) == 0
    assert "2 jobs: 2 cached" in capsys.readouterr().out
    assert assemble(farm, tmp_path / "public") == published.root
    manifest = json.loads((tmp_path / "public" / "tree" / "manifest.json").read_text())
    assert "upstream" not in manifest  # identical to the upstream until it differs
    # A change costs what it changes: drop one recipe, nothing is built, and the
    # manifest names the upstream and what was removed.
    (target / "recipes" / "six.toml").unlink()
    assert farm.build("--platform", NATIVE) == 0
    assert "1 jobs: 1 cached" in capsys.readouterr().out
    assert assemble(farm, tmp_path / "changed") != published.root
    manifest = json.loads((tmp_path / "changed" / "tree" / "manifest.json").read_text())
    assert manifest["upstream"] == {
        "root": published.root, "added": [], "removed": ["six"], "changed": [],
    }  # fmt: skip


def test_derive_refuses_an_existing_directory_and_leaves_nothing_after_a_bad_tree(
    published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").mkdir()
    assert main(["derive", str(published.car), str(tmp_path / "taken")]) == 1
    assert "already exists" in capsys.readouterr().err
    tree = tmp_path / "tree"
    shutil.copytree(published.tree, tree)
    victim = tree / "_sources" / "six" / "six.toml"
    victim.write_text(victim.read_text() + "\n# changed\n")
    assert main(["derive", str(tree), str(tmp_path / "derived")]) == 4
    assert "_sources/six/six.toml" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken", "tree"]
