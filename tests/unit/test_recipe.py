"""Recipe loader: every malformed input is refused with code, file, field and fix,
before `ipwhl build` touches the store; valid recipes load into exact values."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from packaging.version import Version

from builder.errors import InputError
from builder.model.farm import load_farm
from builder.model.recipe import load_recipes
from builder.model.tomlfields import Collector
from tests.fixtures.farm_files import (
    REAL_PLATFORMS,
    SHA,
    build_rejects,
    dumps,
    find_problem,
    load_recipe,
    make_farm,
    recipe_doc,
    sdist_url,
    write,
)


def with_(doc: dict[str, Any], section: str, **values: Any) -> dict[str, Any]:
    doc.setdefault(section, {}).update(values)
    return doc


def without(doc: dict[str, Any], section: str, key: str | None = None) -> dict[str, Any]:
    if key is None:
        del doc[section]
    else:
        del doc[section][key]
    return doc


@dataclass(kw_only=True)
class Bad:
    """One malformed farm and the problem it must produce."""

    id: str
    recipes: dict[str, Any]
    code: str
    file: str
    field: str
    fix: str
    files: dict[str, str] = field(default_factory=dict)  # extra files under recipes/


BAD = [
    Bad(
        id="invalid-toml",
        recipes={"demo-pkg": '[project]\nname = "demo-pkg\n'},
        code="R001",
        file="demo-pkg.toml",
        field="(file)",
        fix="fix the TOML syntax",
    ),
    Bad(
        id="unknown-section",
        recipes={"demo-pkg": with_(recipe_doc(), "tool", x=1)},
        code="R002",
        file="demo-pkg.toml",
        field="tool",
        fix="use one of: build, project",
    ),
    Bad(
        id="unknown-build-key",
        recipes={"demo-pkg": recipe_doc(purity=True)},
        code="R002",
        file="demo-pkg.toml",
        field="build.purity",
        fix="config-settings, depends",
    ),
    Bad(
        id="missing-source",
        recipes={"demo-pkg": without(recipe_doc(), "source")},
        code="R003",
        file="demo-pkg.toml",
        field="source",
        fix="add `source = ...`",
    ),
    Bad(
        id="missing-sha256",
        recipes={"demo-pkg": without(recipe_doc(), "source", "sha256")},
        code="R003",
        file="demo-pkg.toml",
        field="source.sha256",
        fix="add `sha256 = ...` (str)",
    ),
    Bad(
        id="sha256-not-hex",
        recipes={"demo-pkg": with_(recipe_doc(), "source", sha256="z" * 64)},
        code="R008",
        file="demo-pkg.toml",
        field="source.sha256",
        fix="digests.sha256",
    ),
    Bad(
        id="sha256-upper-case",
        recipes={"demo-pkg": with_(recipe_doc(), "source", sha256=SHA.upper())},
        code="R008",
        file="demo-pkg.toml",
        field="source.sha256",
        fix="PyPI's JSON API",
    ),
    Bad(
        id="sha256-63-digits",
        recipes={"demo-pkg": with_(recipe_doc(), "source", sha256=SHA[:63])},
        code="R008",
        file="demo-pkg.toml",
        field="source.sha256",
        fix="digests.sha256",
    ),
    Bad(
        id="name-not-file-name",
        recipes={"other-pkg": recipe_doc()},
        code="R004",
        file="other-pkg.toml",
        field="project.name",
        fix="rename the file to recipes/demo-pkg.toml",
    ),
    Bad(
        id="name-not-normalized",
        recipes={"demo-pkg": with_(recipe_doc(), "project", name="Demo_Pkg")},
        code="R005",
        file="demo-pkg.toml",
        field="project.name",
        fix="'demo-pkg'",
    ),
    Bad(
        id="bad-version",
        recipes={"demo-pkg": with_(recipe_doc(), "project", version="1.0.0-final-x")},
        code="R006",
        file="demo-pkg.toml",
        field="project.version",
        fix="exact version string",
    ),
    Bad(
        id="bad-license",
        recipes={"demo-pkg": with_(recipe_doc(), "project", license="MIT OR")},
        code="R007",
        file="demo-pkg.toml",
        field="project.license",
        fix="SPDX identifiers",
    ),
    Bad(
        id="http-url",
        recipes={
            "demo-pkg": with_(
                recipe_doc(), "source", url=sdist_url("demo-pkg", "1.0.0").replace("https", "http")
            )
        },
        code="R009",
        file="demo-pkg.toml",
        field="source.url",
        fix="https://pypi.org/pypi/demo-pkg/json",
    ),
    Bad(
        id="url-not-an-sdist",
        recipes={
            "demo-pkg": with_(
                recipe_doc(), "source", url="https://example.org/demo_pkg-1.0.0-py3-none-any.whl"
            )
        },
        code="R009",
        file="demo-pkg.toml",
        field="source.url",
        fix="packagetype sdist",
    ),
    Bad(
        id="url-other-project",
        recipes={"demo-pkg": with_(recipe_doc(), "source", url=sdist_url("other-pkg", "1.0.0"))},
        code="R009",
        file="demo-pkg.toml",
        field="source.url",
        fix="https://pypi.org/pypi/demo-pkg/json",
    ),
    Bad(
        id="url-other-version",
        recipes={"demo-pkg": with_(recipe_doc(), "source", url=sdist_url("demo-pkg", "2.0.0"))},
        code="R009",
        file="demo-pkg.toml",
        field="source.url",
        fix="packagetype sdist",
    ),
    Bad(
        id="missing-patch",
        recipes={"demo-pkg": with_(recipe_doc(), "source", patches=["fix.patch"])},
        code="R010",
        file="demo-pkg.toml",
        field="source.patches[0]",
        fix="recipes/patches/demo-pkg/",
    ),
    Bad(
        id="patch-outside-its-directory",
        recipes={"demo-pkg": with_(recipe_doc(), "source", patches=["../escape.patch"])},
        files={"patches/escape.patch": "--- a\n+++ b\n"},
        code="R010",
        file="demo-pkg.toml",
        field="source.patches[0]",
        fix="recipes/patches/demo-pkg/",
    ),
    Bad(
        id="reserved-env-PATH",
        recipes={"demo-pkg": recipe_doc(env={"PATH": "/opt/bin"})},
        code="R014",
        file="demo-pkg.toml",
        field="build.env.PATH",
        fix="the farm sets PATH itself",
    ),
    Bad(
        id="reserved-env-SOURCE_DATE_EPOCH",
        recipes={"demo-pkg": recipe_doc(env={"CFLAGS": "-O2", "SOURCE_DATE_EPOCH": "0"})},
        code="R014",
        file="demo-pkg.toml",
        field="build.env.SOURCE_DATE_EPOCH",
        fix="SOURCE_DATE_EPOCH",
    ),
    Bad(
        id="env-name-not-a-variable",
        recipes={"demo-pkg": recipe_doc(env={"A-B": "1"})},
        code="R014",
        file="demo-pkg.toml",
        field="build.env.A-B",
        fix="the farm sets everything else itself",
    ),
    *[
        Bad(
            id=f"env-not-an-input-{name}",
            recipes={"demo-pkg": recipe_doc(env={name: "/tmp/x"})},
            code="R014",
            file="demo-pkg.toml",
            field=f"build.env.{name}",
            fix="builder/data/build-env.toml",
        )
        for name in (
            "LD_PRELOAD",
            "PYTHONPATH",
            "UV_INDEX_URL",
            "PIP_FIND_LINKS",
            "DEMO_SWITCH",
            "HTTPS_PROXY",
            "IPWHL_STORE",
        )
    ],
    Bad(
        id="system-package-is-an-apt-option",
        recipes={"demo-pkg": recipe_doc(**{"system-packages": ["-o", "APT::Foo=1"]})},
        code="R021",
        file="demo-pkg.toml",
        field="build.system-packages[0]",
        fix="Debian binary package",
    ),
    Bad(
        id="env-value-not-string",
        recipes={"demo-pkg": recipe_doc(env={"OPT": 1})},
        code="R012",
        file="demo-pkg.toml",
        field="build.env.OPT",
        fix="quote the value",
    ),
    Bad(
        id="test-command-unsplittable",
        recipes={
            "demo-pkg": with_(
                recipe_doc(), "test", commands=["pytest -q", "python -c 'import demo_pkg"]
            )
        },
        code="R015",
        file="demo-pkg.toml",
        field="test.commands[1]",
        fix="shell-like",
    ),
    Bad(
        id="test-command-empty",
        recipes={"demo-pkg": with_(recipe_doc(), "test", commands=["  "])},
        code="R015",
        file="demo-pkg.toml",
        field="test.commands[0]",
        fix="shell-like",
    ),
    Bad(
        id="timeout-string",
        recipes={"demo-pkg": recipe_doc(timeout="10")},
        code="R012",
        file="demo-pkg.toml",
        field="build.timeout",
        fix="TOML int",
    ),
    Bad(
        id="timeout-bool",
        recipes={"demo-pkg": recipe_doc(timeout=True)},
        code="R012",
        file="demo-pkg.toml",
        field="build.timeout",
        fix="TOML int",
    ),
    Bad(
        id="timeout-zero",
        recipes={"demo-pkg": recipe_doc(timeout=0)},
        code="R012",
        file="demo-pkg.toml",
        field="build.timeout",
        fix="time limit in seconds",
    ),
    Bad(
        id="source-date-epoch-before-1980",
        recipes={"demo-pkg": recipe_doc(**{"source-date-epoch": 1000})},
        code="R012",
        file="demo-pkg.toml",
        field="build.source-date-epoch",
        fix="315532800",
    ),
    Bad(
        id="requires-not-strings",
        recipes={"demo-pkg": recipe_doc(requires=["cython", 3])},
        code="R012",
        file="demo-pkg.toml",
        field="build.requires",
        fix="quote every item",
    ),
    Bad(
        id="two-recipes-one-project",
        recipes={"PyYAML": recipe_doc("pyyaml", "6.0.2"), "pyyaml": recipe_doc("pyyaml", "6.0.2")},
        code="R011",
        file="pyyaml.toml",
        field="project.name",
        fix="one recipe per project",
    ),
    Bad(
        id="depends-unknown-project",
        recipes={"demo-pkg": recipe_doc(depends=["ghost"])},
        code="R016",
        file="demo-pkg.toml",
        field="build.depends[0]",
        fix="add recipes/ghost.toml",
    ),
    Bad(
        id="depends-not-normalized",
        recipes={"demo-pkg": recipe_doc(depends=["Ghost_Pkg"])},
        code="R005",
        file="demo-pkg.toml",
        field="build.depends[0]",
        fix="'ghost-pkg'",
    ),
    Bad(
        id="platform-glob-selects-nothing",
        recipes={"demo-pkg": recipe_doc(platforms=["solaris-*"])},
        code="R013",
        file="demo-pkg.toml",
        field="build.platforms[0]",
        fix="glob over ids",
    ),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_bad_recipe_is_refused_before_the_store_is_touched(
    bad: Bad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_farm(tmp_path, bad.recipes)
    for name, text in bad.files.items():
        write(tmp_path / "recipes" / name, text)
    err, problems = build_rejects(tmp_path, monkeypatch, capsys)
    problem = find_problem(problems, code=bad.code, file=bad.file, field=bad.field)
    assert bad.fix in problem.fix
    assert problem.file == tmp_path / "recipes" / bad.file
    # The user sees exactly this problem, with its file, field, code and fix.
    assert str(problem) in err
    assert f"{tmp_path / 'recipes' / bad.file}: {bad.field}: {bad.code} " in err
    assert bad.fix in err


def test_every_problem_in_every_file_is_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_farm(
        tmp_path,
        {
            "alpha": with_(recipe_doc("alpha"), "project", version="not a version"),
            "beta": recipe_doc("beta", env={"PATH": "/x"}, timeout="10"),
            "gamma": recipe_doc("gamma", depends=["ghost"]),
            "delta": "[project\n",
            "epsilon": recipe_doc("epsilon"),  # fine: must not be reported
        },
    )
    write(
        tmp_path / "platforms" / "linux-x86_64-cp311.toml",
        (tmp_path / "platforms" / "linux-x86_64-cp311.toml")
        .read_text()
        .replace('"cp311"', '"cp3x"'),
    )
    err, problems = build_rejects(tmp_path, monkeypatch, capsys)
    found = {(p.file.name, p.field, p.code) for p in problems}
    assert found == {
        ("alpha.toml", "project.version", "R006"),
        ("beta.toml", "build.env.PATH", "R014"),
        ("beta.toml", "build.timeout", "R012"),
        ("gamma.toml", "build.depends[0]", "R016"),
        ("delta.toml", "(file)", "R001"),
        ("linux-x86_64-cp311.toml", "interpreter", "P005"),
        ("linux-x86_64-cp311.toml", "(file name)", "P007"),
    }
    assert "7 problems in the farm's input files:" in err
    for problem in problems:
        assert str(problem) in err


def test_a_valid_recipe_loads_into_exact_values(tmp_path: Path) -> None:
    recipes = tmp_path / "recipes"
    write(recipes / "patches" / "demo-pkg" / "fix-build.patch", "--- a\n+++ b\n")
    doc = recipe_doc(
        env={"CFLAGS": "-O2", "DEMO_WITH_FLAG": "1"},
        timeout=600,
        depends=[],
        pure=True,
        platforms=["linux-*", "macos-*"],
        **{"source-date-epoch": 1700000000},
    )
    with_(doc, "project", license="apache-2.0 OR mit")
    with_(doc, "source", patches=["fix-build.patch"])
    with_(doc, "test", imports=["demo_pkg"], commands=["python -c 'import demo_pkg; print(1)'"])
    recipe = load_recipe(recipes, doc)
    assert recipe.name == "demo-pkg"
    assert recipe.version == Version("1.0.0")
    assert recipe.license == "Apache-2.0 OR MIT"
    assert recipe.sha256 == SHA
    assert recipe.sdist_filename == "demo_pkg-1.0.0.tar.gz"
    assert recipe.env == (("CFLAGS", "-O2"), ("DEMO_WITH_FLAG", "1"))
    assert recipe.timeout == 600 and recipe.source_date_epoch == 1700000000 and recipe.pure
    assert recipe.test_commands == (("python", "-c", "import demo_pkg; print(1)"),)
    assert recipe.test_imports == ("demo_pkg",)
    [patch] = recipe.patches
    assert patch.path == recipes / "patches" / "demo-pkg" / "fix-build.patch"
    assert patch.sha256 == hashlib.sha256(b"--- a\n+++ b\n").hexdigest()
    file_bytes = (recipes / "demo-pkg.toml").read_bytes()
    assert recipe.file_sha256 == hashlib.sha256(file_bytes).hexdigest()
    assert recipe.selects("linux-x86_64-cp312") and recipe.selects("macos-arm64-cp39")
    assert not recipe.selects("windows-AMD64-cp312")


def test_defaults_of_a_minimal_recipe(tmp_path: Path) -> None:
    recipe = load_recipe(tmp_path, recipe_doc())
    assert recipe.platforms == ("*",) and recipe.timeout == 1800 and not recipe.pure
    assert recipe.source_date_epoch is None and recipe.env == () and recipe.depends == ()


def test_url_with_underscored_or_capitalised_project_matches(tmp_path: Path) -> None:
    doc = with_(
        recipe_doc("zope-interface", "6.4.post2"),
        "source",
        url="https://files.pythonhosted.org/packages/source/z/Zope.Interface-6.4.post2.zip",
    )
    assert load_recipe(tmp_path, doc).sdist_filename == "Zope.Interface-6.4.post2.zip"


def test_the_minimal_farm_is_valid(tmp_path: Path) -> None:
    """The base every bad case starts from must load, or the cases prove nothing."""
    make_farm(tmp_path, {"demo-pkg": recipe_doc(), "pyyaml": recipe_doc("pyyaml")})
    farm = load_farm(tmp_path)
    assert sorted(farm.recipes) == ["demo-pkg", "pyyaml"]
    assert (
        len(farm.platforms) == len(list(REAL_PLATFORMS.glob("*.toml")))
        and farm.pure_platform.id == "linux-x86_64-cp312"
    )


def test_unparseable_url_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    doc = with_(recipe_doc(), "source", url="https://[files.pythonhosted.org/demo_pkg-1.0.0.tar.gz")
    with pytest.raises(InputError) as caught:
        load_recipe(tmp_path, doc)
    find_problem(caught.value.problems, code="R009", file="demo-pkg.toml", field="source.url")


@pytest.mark.parametrize(
    ("section", "key"), [("project", "name"), ("source", "url"), ("source", "sha256")]
)
def test_empty_required_string_is_refused(tmp_path: Path, section: str, key: str) -> None:
    write(tmp_path / "demo-pkg.toml", dumps(with_(recipe_doc(), section, **{key: ""})))
    collector = Collector()
    recipes = load_recipes(tmp_path, collector)
    assert any(p.field == f"{section}.{key}" for p in collector.problems), recipes


def test_each_platform_glob_must_select_something(tmp_path: Path) -> None:
    make_farm(tmp_path, {"demo-pkg": recipe_doc(platforms=["linux-*", "solaris-*"])})
    try:
        load_farm(tmp_path)
    except InputError as e:
        find_problem(e.problems, code="R013", file="demo-pkg.toml", field="build.platforms[1]")
    else:
        raise AssertionError("'solaris-*' selects no platform but the farm loaded")


def test_exclusions_leave_platforms_out(tmp_path: Path) -> None:
    doc = recipe_doc(platforms=["linux-*", "!*-pp*", "!linux-aarch64-*"])
    recipe = load_farm(make_farm(tmp_path, {"demo-pkg": doc})).recipes["demo-pkg"]
    assert recipe.selects("linux-x86_64-cp312")
    assert not recipe.selects("linux-x86_64-pp311")
    assert not recipe.selects("linux-aarch64-cp312")
    assert not recipe.selects("macos-arm64-cp312")
    alone = with_(recipe_doc(), "build", platforms=["!*-pp*"])
    recipe = load_farm(make_farm(tmp_path / "b", {"demo-pkg": alone})).recipes["demo-pkg"]
    assert recipe.selects("macos-arm64-cp312") and not recipe.selects("linux-x86_64-pp311")


def test_an_exclusion_must_exclude_something(tmp_path: Path) -> None:
    make_farm(tmp_path, {"demo-pkg": recipe_doc(platforms=["!solaris-*"])})
    with pytest.raises(InputError) as caught:
        load_farm(tmp_path)
    problem = find_problem(
        caught.value.problems, code="R013", file="demo-pkg.toml", field="build.platforms[0]"
    )
    assert "'!solaris-*' excludes no platform" in problem.message


def test_pure_on_pypy_drops_the_extension_imports_on_pypy_only(tmp_path: Path) -> None:
    doc = with_(recipe_doc(), "build", **{"pure-on-pypy": True})
    doc["test"] = {"imports": ["demo_pkg"], "compiled-imports": ["demo_pkg._speedups"]}
    recipe = load_farm(make_farm(tmp_path, {"demo-pkg": doc})).recipes["demo-pkg"]
    assert recipe.imports_on("cpython") == ("demo_pkg", "demo_pkg._speedups")
    assert recipe.imports_on("pypy") == ("demo_pkg",)
    assert recipe.expects_extension("cpython") and not recipe.expects_extension("pypy")
    pure = with_(recipe_doc(), "build", pure=True, **{"pure-on-pypy": True})
    with pytest.raises(InputError) as caught:
        load_recipe(tmp_path / "c", pure)
    find_problem(caught.value.problems, code="R022", file="demo-pkg.toml",
                 field="build.pure-on-pypy")  # fmt: skip


def test_a_rust_recipe_is_compiled(tmp_path: Path) -> None:
    recipe = load_recipe(tmp_path / "a", with_(recipe_doc(), "build", rust=True))
    assert recipe.rust and not recipe.pure
    with pytest.raises(InputError) as caught:
        load_recipe(tmp_path / "b", with_(recipe_doc(), "build", pure=True, rust=True))
    problem = find_problem(caught.value.problems, code="R024", file="demo-pkg.toml",
                           field="build.rust")  # fmt: skip
    assert "pure = false" in problem.fix


def test_a_setting_given_as_a_list_is_passed_once_per_item_in_its_order(
    tmp_path: Path,
) -> None:
    # Order within a list is meaning (a later -D wins in meson); keys are sorted.
    settings_ = {"setup-args": ["-Dlapack=none", "-Dblas=openblas"], "build-dir": "build"}
    recipe = load_recipe(
        tmp_path / "a", with_(recipe_doc(), "build", **{"config-settings": settings_})
    )
    assert recipe.config_settings == (
        ("build-dir", "build"), ("setup-args", "-Dlapack=none"), ("setup-args", "-Dblas=openblas"),
    )  # fmt: skip
    with pytest.raises(InputError) as caught:
        load_recipe(tmp_path / "b", with_(recipe_doc(), "build", **{"config-settings": {"x": [1]}}))
    find_problem(caught.value.problems, code="R012", file="demo-pkg.toml",
                 field="build.config-settings.x")  # fmt: skip


def test_tools_are_the_pinned_build_tools(tmp_path: Path) -> None:
    recipe = load_recipe(tmp_path / "a", with_(recipe_doc(), "build", tools=["ninja", "patchelf"]))
    assert recipe.tools == ("ninja", "patchelf")
    with pytest.raises(InputError) as caught:
        load_recipe(tmp_path / "b", with_(recipe_doc(), "build", tools=["gmake"]))
    problem = find_problem(caught.value.problems, code="R025", file="demo-pkg.toml",
                           field="build.tools[0]")  # fmt: skip
    assert "ninja" in problem.fix and "toolchains.toml" in problem.fix


@pytest.mark.parametrize("kind", ["pure", "abi3"])
def test_a_program_is_neither_pure_nor_abi3(tmp_path: Path, kind: str) -> None:
    recipe = load_recipe(tmp_path / "a", with_(recipe_doc(), "build", program=True))
    assert recipe.program and not recipe.pure and not recipe.abi3
    with pytest.raises(InputError) as caught:
        load_recipe(tmp_path / "b", with_(recipe_doc(), "build", program=True, **{kind: True}))
    problem = find_problem(caught.value.problems, code="R026", file="demo-pkg.toml",
                           field="build.program")  # fmt: skip
    assert kind in problem.message and "py3-none-<platform>" in problem.fix


# Any value in any known key: the loader returns a recipe or raises InputError, never
# anything else. (source.url is left out and project.name = '' assumed away: both are
# known bugs pinned by the xfail tests above.)
KEYS = (
    [("project", k) for k in ("name", "version", "license", "confusable-with")]
    + [("source", k) for k in ("sha256", "patches")]
    + [
        ("build", k)
        for k in (
            "pure",
            "program",
            "rust",
            "tools",
            "env",
            "config-settings",
            "system-packages",
            "requires",
            "depends",
            "platforms",
            "source-date-epoch",
            "timeout",
        )
    ]
    + [("test", k) for k in ("imports", "commands")]
)
text = st.text(alphabet=string.printable + "é\u00a0\\", max_size=20)
values = st.one_of(
    text,
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.lists(text, max_size=3),
    st.lists(st.one_of(text, st.integers()), max_size=3),
    st.dictionaries(text, st.one_of(text, st.integers()), max_size=3),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(st.tuples(st.sampled_from(KEYS), values), min_size=1, max_size=4))
def test_any_value_gives_a_recipe_or_an_input_error(
    tmp_path: Path, changes: list[tuple[tuple[str, str], Any]]
) -> None:
    # Known bug, pinned by test_empty_required_string_is_refused: '' loads as a name.
    assume(all(change != (("project", "name"), "") for change in changes))
    doc = recipe_doc()
    for (section, key), value in changes:
        with_(doc, section, **{key: value})
    directory = tmp_path / "fuzz"
    directory.mkdir(exist_ok=True)
    for old in directory.glob("*.toml"):
        old.unlink()
    try:
        recipe = load_recipe(directory, dumps(doc), stem="demo-pkg")
    except InputError as e:
        assert e.problems
        for p in e.problems:
            assert p.code.startswith("R") and p.fix and p.file.name == "demo-pkg.toml"
    else:
        assert recipe.name == "demo-pkg" and recipe.sha256 == doc["source"]["sha256"]


def test_a_cycle_of_build_dependencies_is_an_input_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_farm(
        tmp_path,
        {
            "alpha": recipe_doc("alpha", depends=["beta"]),
            "beta": recipe_doc("beta", depends=["gamma"]),
            "gamma": recipe_doc("gamma", depends=["alpha"]),
        },
    )
    err, problems = build_rejects(tmp_path, monkeypatch, capsys)
    (problem,) = [p for p in problems if p.code == "R020"]
    assert problem.field == "build.depends" and "form a cycle" in problem.message
    for name in ("alpha", "beta", "gamma"):
        assert name in problem.message
    assert "R020" in err


def test_a_recipes_flags_add_to_the_reproducibility_flags_never_replace_them(
    tmp_path: Path,
) -> None:
    from builder.pipeline.build import backend_env

    doc = recipe_doc(env={"CPPFLAGS": "-DDEMO=1", "LDFLAGS": "-lm", "DEMO_WITH_FLAG": "1"})
    recipe = load_recipe(tmp_path / "recipes", doc)
    made = backend_env(recipe, venv=tmp_path / "venv", source=tmp_path / "src",
                       home=tmp_path / "home", source_date_epoch=1700000000)  # fmt: skip
    env = dict(made.variables)
    assert env["CPPFLAGS"] == f"-ffile-prefix-map={tmp_path / 'src'}=. -DDEMO=1"
    assert env["LDFLAGS"] == "-Wl,--strip-debug -Wl,--build-id=none -lm"
    assert env["DEMO_WITH_FLAG"] == "1"
