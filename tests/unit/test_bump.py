"""Moving a recipe's pin: its dependents, and the in-place edit of its file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from builder.curation.bump import Dependents, build_dependents, dependents, edit_recipe
from builder.curation.facts import WheelFacts
from builder.errors import CurationError
from builder.model.farm import Farm, load_farm
from tests.fixtures.farm_files import make_farm, platform_doc, recipe_doc

PURE = "linux-x86_64-cp312"


def farm_of(tmp_path: Path) -> Farm:
    """base <- mid <- top (build.depends), other <- leaf, and a loner."""
    docs = [
        recipe_doc("base"),
        recipe_doc("mid", depends=["base"]),
        recipe_doc("top", depends=["mid", "other"]),
        recipe_doc("other"),
        recipe_doc("leaf", depends=["other"]),
        recipe_doc("loner"),
    ]
    platforms: dict[str, str | dict[str, Any]] = {PURE: platform_doc(PURE, pure=True)}
    return load_farm(make_farm(tmp_path, {d["project"]["name"]: d for d in docs}, platforms))


def wheel(name: str, *requires: str, platform: str = PURE) -> WheelFacts:
    return WheelFacts(
        filename=f"{name.replace('-', '_')}-1.0-py3-none-any.whl",
        sha256=name,
        platform=platform,
        name=name,
        version="1.0",
        requires_dist=requires,
    )


def test_build_dependents_are_transitive(tmp_path: Path) -> None:
    recipes = farm_of(tmp_path).recipes
    assert build_dependents(recipes, ["base"]) == {"mid", "top"}
    assert build_dependents(recipes, ["other"]) == {"top", "leaf"}
    assert build_dependents(recipes, ["base", "other"]) == {"mid", "top", "leaf"}
    assert build_dependents(recipes, ["top"]) == set()
    assert build_dependents(recipes, ["loner", "not-a-recipe"]) == set()
    # A recipe built with the set's own backend "loner" rebuilds with it, and whatever
    # builds against that recipe follows.
    uses = {"base": {"loner"}}
    assert build_dependents(recipes, ["loner"], uses) == {"base", "mid", "top"}


def test_dependents_at_build_and_run_time_and_the_broken_ones(tmp_path: Path) -> None:
    recipes = farm_of(tmp_path).recipes
    wheels = [
        wheel("app", "Base>=1.0", "idna"),  # named as written: canonicalized
        wheel("app", "base>=1.0", platform="windows-AMD64-cp312"),  # one project, once
        wheel("strict", "base<2,>=1"),  # 2.0 is outside its range
        wheel("plugin", "base[extra]==1.*; extra == 'full'"),  # an extra still counts
        wheel("base", "base[cli]>=2"),  # its own wheel is never its dependent
        wheel("stranger", "based>=1", "not a requirement !!"),
    ]
    found = dependents(recipes, wheels, "base", Version("2.0"))
    assert found == Dependents(
        build=("mid", "top"),
        runtime=("app", "plugin", "strict"),
        broken=('plugin: base[extra]==1.*; extra == "full"', "strict: base<2,>=1"),
    )


def test_a_prerelease_meets_an_open_range(tmp_path: Path) -> None:
    recipes = farm_of(tmp_path).recipes
    wheels = [wheel("app", "other>=1"), wheel("picky", "other>=2.1")]
    found = dependents(recipes, wheels, "other", Version("2.0rc1"))
    assert found.build == ("leaf", "top")
    assert found.runtime == ("app", "picky")
    assert found.broken == ("picky: other>=2.1",)


RECIPE = """\
# A recipe as a maintainer keeps it: comments, odd spacing, more keys.
[project]
name = "demo-pkg"
version   =   "1.0.0"  # pinned for the 2025 set
license = "MIT"

[source]
# PyPI's URL, never a mirror
url = "https://files.pythonhosted.org/packages/source/d/demo-pkg/demo_pkg-1.0.0.tar.gz"
sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
patches = ["fix-version.patch"]

[build]
requires = ["setuptools<80"]
env = { DEMO_VERSION = "keep", url = "keep" }

[test]
imports = ["demo_pkg"]
"""
NEW_URL = "https://files.pythonhosted.org/packages/source/d/demo-pkg/demo_pkg-1.1.0.tar.gz"
NEW_SHA = "b" * 64


def test_edit_recipe_changes_three_values_and_nothing_else() -> None:
    edited = edit_recipe(RECIPE, version="1.1.0", url=NEW_URL, sha256=NEW_SHA)
    expected = (
        RECIPE.replace('version   =   "1.0.0"', 'version   =   "1.1.0"')
        .replace("demo_pkg-1.0.0.tar.gz", "demo_pkg-1.1.0.tar.gz")
        .replace("a" * 64, NEW_SHA)
    )
    assert edited == expected
    before, after = tomllib.loads(RECIPE), tomllib.loads(edited)
    assert after["project"]["version"] == "1.1.0"
    assert after["source"] == {**before["source"], "url": NEW_URL, "sha256": NEW_SHA}
    assert after["build"] == before["build"]
    assert after["test"] == before["test"]


printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@given(version=printable, url=printable, sha256=printable)
def test_edit_recipe_writes_values_toml_reads_back(version: str, url: str, sha256: str) -> None:
    # Backslashes and quotes survive: the replacement is not read as a regex template.
    edited = edit_recipe(RECIPE, version=version, url=url, sha256=sha256)
    doc = tomllib.loads(edited)
    assert (doc["project"]["version"], doc["source"]["url"], doc["source"]["sha256"]) == (
        version,
        url,
        sha256,
    )
    assert doc["source"]["patches"] == ["fix-version.patch"]


MULTILINE_URL = (('url = "https', 'url = """https'), ('1.0.0.tar.gz"', '1.0.0.tar.gz"""'))


@pytest.mark.parametrize(
    ("replacements", "key"),
    [
        ((('version   =   "1.0.0"', "version = '1.0.0'"),), "version"),  # a literal string
        ((('sha256 = "', '"sha256" = "'),), "sha256"),  # a quoted key
        (MULTILINE_URL, "url"),  # a multi-line string
    ],
)  # fmt: skip
def test_edit_recipe_refuses_keys_it_cannot_edit_in_place(
    replacements: tuple[tuple[str, str], ...], key: str
) -> None:
    text = RECIPE
    for old, new in replacements:
        text = text.replace(old, new)
    assert text != RECIPE
    tomllib.loads(text)  # still a valid recipe, only not one edit_recipe can change
    with pytest.raises(CurationError) as caught:
        edit_recipe(text, version="1.1.0", url=NEW_URL, sha256=NEW_SHA)
    assert caught.value.message == f'cannot find `{key} = "..."` in the recipe'
    assert "plain one-line string" in caught.value.fix


def test_edit_recipe_replaces_a_string_with_escapes_whole() -> None:
    old = 'url = "https://files.pythonhosted.org/packages/source/d/demo-pkg/demo_pkg-1.0.0.tar.gz"'
    text = RECIPE.replace(old, 'url = "https://example.invalid/a\\"b"  # was "q"')
    assert tomllib.loads(text)["source"]["url"] == 'https://example.invalid/a"b'
    edited = edit_recipe(text, version="2.0", url="https://x.invalid/n.tar.gz", sha256="f" * 64)
    assert tomllib.loads(edited)["source"]["url"] == "https://x.invalid/n.tar.gz"
    assert '# was "q"' in edited
