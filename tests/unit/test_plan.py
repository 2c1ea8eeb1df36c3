"""Planning: recipes x platforms -> jobs, their order, and runtime markers per platform."""

from __future__ import annotations

import graphlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.errors import InputError
from builder.model.recipe import Recipe, load_recipes
from builder.model.tomlfields import Collector
from builder.pipeline import plan
from builder.pipeline.plan import build_graph, build_order, plan_jobs, runtime_requirements
from tests.fixtures.farm_files import PURE_PLATFORM, dumps, load_real_platforms, recipe_doc, write

LINUX311, WIN312, MAC313 = "linux-x86_64-cp311", "windows-AMD64-cp312", "macos-arm64-cp313"


def recipes_from(tmp_path: Path, *docs: dict[str, Any]) -> dict[str, Recipe]:
    for doc in docs:
        write(tmp_path / "recipes" / f"{doc['project']['name']}.toml", dumps(doc))
    collector = Collector()
    recipes = load_recipes(tmp_path / "recipes", collector)
    if collector.problems:
        raise InputError(collector.problems)
    return recipes


@pytest.fixture
def platforms() -> dict[str, Any]:
    return load_real_platforms(PURE_PLATFORM, LINUX311, WIN312, MAC313)


def test_pure_jobs_reuse_the_pure_platform(tmp_path: Path, platforms: dict[str, Any]) -> None:
    recipes = recipes_from(
        tmp_path,
        recipe_doc("purelib", pure=True),
        recipe_doc("cext"),
        recipe_doc("linux-only", platforms=["linux-*"]),
    )
    targets = [platforms[LINUX311], platforms[WIN312], platforms[MAC313]]
    jobs = plan_jobs(recipes, targets, platforms[PURE_PLATFORM])
    got = {(j.recipe.name, j.platform.id): j.reuses for j in jobs}
    assert got == {
        ("cext", LINUX311): None,
        ("cext", MAC313): None,
        ("cext", WIN312): None,
        ("linux-only", LINUX311): None,
        # The pure wheel is built once on the pure platform, even though this run does
        # not target it, and every other platform reuses it.
        ("purelib", PURE_PLATFORM): None,
        ("purelib", LINUX311): PURE_PLATFORM,
        ("purelib", MAC313): PURE_PLATFORM,
        ("purelib", WIN312): PURE_PLATFORM,
    }
    assert [j.key for j in jobs] == sorted(j.key for j in jobs)  # deterministic order
    assert jobs[0].key == f"cext@{LINUX311}"


def test_pure_platform_in_targets_is_planned_once(
    tmp_path: Path, platforms: dict[str, Any]
) -> None:
    recipes = recipes_from(tmp_path, recipe_doc("purelib", pure=True))
    jobs = plan_jobs(recipes, list(platforms.values()), platforms[PURE_PLATFORM])
    assert len(jobs) == 4
    assert [j.platform.id for j in jobs if j.reuses is None] == [PURE_PLATFORM]


def test_build_order_respects_depends(tmp_path: Path, platforms: dict[str, Any]) -> None:
    recipes = recipes_from(
        tmp_path,
        recipe_doc("app", depends=["cext", "purelib"]),
        recipe_doc("cext", depends=["numpyish"]),
        recipe_doc("numpyish"),
        recipe_doc("purelib", pure=True),
    )
    jobs = plan_jobs(recipes, [platforms[LINUX311], platforms[WIN312]], platforms[PURE_PLATFORM])
    order = build_order(jobs)
    assert sorted(order) == sorted(j.key for j in jobs)
    position = {key: i for i, key in enumerate(order)}
    for pid in (LINUX311, WIN312):
        assert position[f"numpyish@{pid}"] < position[f"cext@{pid}"] < position[f"app@{pid}"]
        assert position[f"purelib@{PURE_PLATFORM}"] < position[f"purelib@{pid}"]
        assert position[f"purelib@{pid}"] < position[f"app@{pid}"]
    graph = build_graph(jobs)
    assert graph[f"app@{WIN312}"] == {f"cext@{WIN312}", f"purelib@{WIN312}"}
    assert graph[f"purelib@{WIN312}"] == {f"purelib@{PURE_PLATFORM}"}
    assert graph[f"numpyish@{LINUX311}"] == set()


def test_dependency_only_built_elsewhere_is_waited_for(
    tmp_path: Path, platforms: dict[str, Any]
) -> None:
    recipes = recipes_from(
        tmp_path, recipe_doc("app", depends=["tool"]), recipe_doc("tool", platforms=["linux-*"])
    )
    jobs = plan_jobs(recipes, [platforms[LINUX311], platforms[WIN312]], platforms[PURE_PLATFORM])
    assert build_graph(jobs)[f"app@{WIN312}"] == {f"tool@{LINUX311}"}


def test_a_cycle_raises_cycle_error(tmp_path: Path, platforms: dict[str, Any]) -> None:
    recipes = recipes_from(
        tmp_path,
        recipe_doc("alpha", depends=["beta"]),
        recipe_doc("beta", depends=["gamma"]),
        recipe_doc("gamma", depends=["alpha"]),
        recipe_doc("delta"),
    )
    jobs = plan_jobs(recipes, [platforms[LINUX311]], platforms[PURE_PLATFORM])
    with pytest.raises(graphlib.CycleError) as caught:
        build_order(jobs)
    cycle = set(caught.value.args[1])
    assert cycle == {f"{n}@{LINUX311}" for n in ("alpha", "beta", "gamma")}


REQUIRES_DIST = [
    'tomli>=1.1; python_version < "3.12"',
    'colorama; platform_system == "Windows"',
    "Typing_Extensions>=4.6",
    'pywin32>=300; sys_platform == "win32"',
    'uvloop; sys_platform != "win32" and implementation_name == "cpython"',
    'pytest>=8; extra == "test"',
    'appnope; sys_platform == "darwin" and platform_machine == "arm64"',
    "typing-extensions; python_version >= '3.8'",  # a duplicate, after normalization
]


@pytest.mark.parametrize(
    ("pid", "expected"),
    [
        (LINUX311, ["tomli", "typing-extensions", "uvloop"]),
        (PURE_PLATFORM, ["typing-extensions", "uvloop"]),
        (WIN312, ["colorama", "pywin32", "typing-extensions"]),
        (MAC313, ["appnope", "typing-extensions", "uvloop"]),
    ],
)
def test_runtime_requirements_evaluate_markers_per_platform(
    platforms: dict[str, Any], pid: str, expected: list[str]
) -> None:
    assert runtime_requirements(REQUIRES_DIST, platforms[pid]) == expected


def test_windows_cp311_gets_both_conditional_requirements(tmp_path: Path) -> None:
    win311 = load_real_platforms("windows-AMD64-cp311")["windows-AMD64-cp311"]
    assert runtime_requirements(REQUIRES_DIST[:2], win311) == ["colorama", "tomli"]


def test_runtime_closure_of_a_test() -> None:
    requires = {"app": ["lib", "util"], "lib": ["util", "ghost"], "util": [], "other": ["app"]}
    assert plan.test_closure("app", requires) == ({"app", "lib", "util", "ghost"}, {"ghost"})
    assert plan.test_closure("util", requires) == ({"util"}, set())
    assert plan.test_closure("missing", requires) == ({"missing"}, {"missing"})
    cyclic = {"a": ["b"], "b": ["a"]}
    assert plan.test_closure("a", cyclic) == ({"a", "b"}, set())


@given(
    st.dictionaries(st.sampled_from("abcdefg"), st.lists(st.sampled_from("abcdefgh")), max_size=7),
    st.sampled_from("abcdefgh"),
)
def test_runtime_closure_is_closed(requires: dict[str, list[str]], start: str) -> None:
    closure, unknown = plan.test_closure(start, requires)
    assert start in closure
    assert unknown == {n for n in closure if n not in requires}
    for name in closure - unknown:
        assert set(requires[name]) <= closure


def test_every_reused_wheel_is_built_by_some_job(tmp_path: Path, platforms: dict[str, Any]) -> None:
    recipes = recipes_from(tmp_path, recipe_doc("winpure", pure=True, platforms=["windows-*"]))
    jobs = plan_jobs(recipes, [platforms[WIN312]], platforms[PURE_PLATFORM])
    keys = {j.key for j in jobs}
    for job in jobs:
        if job.reuses:
            assert f"{job.recipe.name}@{job.reuses}" in keys, job.key


def test_an_abi3_recipe_is_built_once_per_os_and_arch_on_its_lowest_interpreter(
    tmp_path: Path, platforms: dict[str, Any]
) -> None:
    from builder.pipeline.plan import build_platform

    recipes = recipes_from(tmp_path, recipe_doc("limited", abi3=True))
    linux = [p for pid, p in platforms.items() if pid.startswith("linux-x86_64-")]
    cp312 = platforms["linux-x86_64-cp312"]
    jobs = plan_jobs(recipes, [cp312], platforms[PURE_PLATFORM], every_platform=linux)
    lowest = min(linux, key=lambda p: int(p.python_version.split(".")[1]))
    assert {(j.platform.id, j.reuses) for j in jobs} == {
        (lowest.id, None),
        ("linux-x86_64-cp312", lowest.id),
    }
    windows = platforms[WIN312]
    assert build_platform(recipes["limited"], windows, platforms.values(),
                          platforms[PURE_PLATFORM]).os == windows.os  # fmt: skip


def test_an_abi3_wheel_is_not_reused_on_a_platform_promising_an_older_glibc(
    tmp_path: Path,
) -> None:
    """Were cp311-cp313 built with the host toolchain (manylinux_2_34), cp314 and cp315,
    which promise manylinux_2_17, would share a build of their own."""
    import dataclasses

    from builder.model.platform import ToolchainName
    from builder.pipeline.plan import build_platform

    real = load_real_platforms()
    for pid in ("linux-x86_64-cp311", "linux-x86_64-cp312", "linux-x86_64-cp313"):
        real[pid] = dataclasses.replace(real[pid], policy="manylinux_2_34_x86_64",
                                        toolchain=ToolchainName.HOST)  # fmt: skip
    recipes = recipes_from(tmp_path, recipe_doc("limited", abi3=True))
    linux = [p for pid, p in real.items() if pid.startswith("linux-x86_64-")]
    built_on = {
        p.id: build_platform(recipes["limited"], p, linux, real[PURE_PLATFORM]).id for p in linux
    }
    assert built_on == {
        "linux-x86_64-cp311": "linux-x86_64-cp311",
        "linux-x86_64-cp312": "linux-x86_64-cp311",
        "linux-x86_64-cp313": "linux-x86_64-cp311",
        "linux-x86_64-cp314": "linux-x86_64-cp314",
        "linux-x86_64-cp315": "linux-x86_64-cp314",
        # PyPy has no stable ABI: its wheel is its own.
        "linux-x86_64-pp311": "linux-x86_64-pp311",
    }


def test_a_program_is_built_once_per_os_and_arch_and_serves_pypy_too(tmp_path: Path) -> None:
    """maturin's wheel holds no extension module: cp311 builds it for every
    interpreter of linux-x86_64, PyPy's included, and aarch64 has its own (and
    cibuildwheel's aarch64-cp312, another backend, one of its own)."""
    from builder.pipeline.plan import build_platform

    real = load_real_platforms()
    recipes = recipes_from(tmp_path, recipe_doc("tool", program=True))
    linux = [p for pid, p in real.items() if pid.startswith("linux-")]
    built_on = {
        p.id: build_platform(recipes["tool"], p, linux, real[PURE_PLATFORM]).id for p in linux
    }
    assert {pid: base for pid, base in built_on.items() if "x86_64" in pid} == {
        f"linux-x86_64-{tag}": "linux-x86_64-cp311"
        for tag in ("cp311", "cp312", "cp313", "cp314", "cp315", "pp311")
    }
    assert {pid: base for pid, base in built_on.items() if "aarch64" in pid} == {
        f"linux-aarch64-{tag}": "linux-aarch64-cp312" if tag == "cp312" else "linux-aarch64-cp311"
        for tag in ("cp311", "cp312", "cp313", "cp314", "cp315", "pp311")
    }


def test_a_compiled_dependency_is_never_taken_from_another_platform(
    tmp_path: Path, platforms: dict[str, Any]
) -> None:
    """cryptography's abi3 build on cp311, in a run of cp312 alone, had been handed
    cffi's cp312 wheel: a platform that builds the dependency waits for its own."""
    recipes = recipes_from(tmp_path, recipe_doc("app", depends=["tool"]), recipe_doc("tool"))
    jobs = plan_jobs(recipes, [platforms[LINUX311]], platforms[PURE_PLATFORM])
    jobs = [j for j in jobs if j.key != f"tool@{LINUX311}"]
    jobs += plan_jobs(recipes, [platforms[WIN312]], platforms[PURE_PLATFORM])
    assert build_graph(jobs)[f"app@{LINUX311}"] == set()
