"""Deriving a repository from a published tree: identity first, then changes that cost
what they change, then following upstream with conflicts reported, never resolved."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from builder.cli import main
from tests.fixtures.published import Published, assemble
from tests.integration.farmcopy import NATIVE, FarmCopy, make_farm

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _derived(published: Published, target: Path) -> FarmCopy:
    code = main(["derive", str(published.car), str(target), "--cache", str(published.farm.cache)])
    assert code == 0
    return FarmCopy(root=target, store=target / "store", build_root=published.farm.build_root,
                    cache=published.farm.cache)  # fmt: skip


def _with_env(recipe: Path, value: str) -> None:
    text = recipe.read_text()
    recipe.write_text(
        text.replace("[build]\n", f'[build]\nenv = {{ EXAMPLE_WITH_FLAG = "{value}" }}\n', 1)
    )


def test_derive_writes_a_farm_that_rebuilds_nothing_and_assembles_the_upstream_cid(
    published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "derived"
    code = main(["derive", str(published.car), str(target), "--cache", str(published.farm.cache)])
    assert code == 0
    upstream = (target / "upstream.toml").read_text()
    assert f'root = "{published.root}"' in upstream and '"six" = { version = "1.17.0"' in upstream
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
        "root": published.root, "added": [], "removed": ["six"], "changed": [], "farm": [],
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


@pytest.fixture(scope="module")
def newer(published: Published, tmp_path_factory: pytest.TempPathFactory) -> Published:
    """The upstream, one release later: markupsafe's build flags changed."""
    base = tmp_path_factory.mktemp("newer")
    farm = replace(make_farm(base, ["six", "markupsafe"], cache=published.farm.cache),
                   build_root=published.farm.build_root)  # fmt: skip
    _with_env(farm.root / "recipes" / "markupsafe.toml", "upstream")
    assert farm.build("--platform", NATIVE, "--from", str(published.car)) == 0
    root = assemble(farm, base / "public")
    return Published(farm=farm, tree=base / "public" / "tree",
                     car=base / "public" / f"{root}.car", root=root)  # fmt: skip


def test_update_takes_upstreams_changes_and_keeps_yours(
    published: Published, newer: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = _derived(published, tmp_path / "derived")
    _with_env(farm.root / "recipes" / "six.toml", "ours")  # a local override
    code = main(["--root", str(farm.root), "derive", "--update", str(newer.car),
                 "--cache", str(farm.cache)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "markupsafe: take upstream's (3.0.4 -> 3.0.4)" in out
    assert "six: keep yours" in out
    theirs = (newer.farm.root / "recipes" / "markupsafe.toml").read_bytes()
    assert (farm.root / "recipes" / "markupsafe.toml").read_bytes() == theirs
    assert 'EXAMPLE_WITH_FLAG = "ours"' in (farm.root / "recipes" / "six.toml").read_text()
    assert f'root = "{newer.root}"' in (farm.root / "upstream.toml").read_text()
    # markupsafe comes from the new upstream's records; only your six is built.
    assert farm.build("--platform", NATIVE) == 0
    assert "2 jobs: 1 built, 1 cached" in capsys.readouterr().out


def test_a_conflicting_update_changes_nothing_until_a_side_is_chosen(
    published: Published, newer: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = _derived(published, tmp_path / "derived")
    recipe = farm.root / "recipes" / "markupsafe.toml"
    _with_env(recipe, "ours")
    before = {p: p.read_bytes() for p in sorted(farm.root.rglob("*.toml"))}
    update = ["--root", str(farm.root), "derive", "--update", str(newer.car),
              "--cache", str(farm.cache)]  # fmt: skip
    assert main(update) == 1
    captured = capsys.readouterr()
    assert "markupsafe: changed by you and by upstream; base: 3.0.4" in captured.out
    assert "yours: 3.0.4" in captured.out and "theirs: 3.0.4" in captured.out
    assert "--ours NAME" in captured.err and "nothing was changed" in captured.err
    assert {p: p.read_bytes() for p in sorted(farm.root.rglob("*.toml"))} == before
    assert main([*update, "--theirs", "markupsafe"]) == 0
    assert recipe.read_bytes() == (newer.farm.root / "recipes" / "markupsafe.toml").read_bytes()
