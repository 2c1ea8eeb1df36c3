"""What a change to the farm needs rebuilt: git's view of the change, the recipes and
platforms it touches, the jobs and the plan document. git runs for real in tmp_path."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from builder.curation.changes import Change, affected, changed_files, jobs_for, plan_document
from builder.errors import CurationError
from builder.model.farm import Farm, load_farm
from builder.pipeline.sdistfacts import SdistFacts, remember
from tests.fixtures.farm_files import make_farm, platform_doc, recipe_doc, write

PURE = "linux-x86_64-cp312"
LINUX39 = "linux-x86_64-cp39"
WIN = "windows-AMD64-cp312"
ALL = frozenset({PURE, LINUX39, WIN})


def git(root: Path, *argv: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=IPWHL Test", "-c", "user.email=t@ipwhl.invalid",
         "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *argv],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def sha_of(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def farm_of(tmp_path: Path) -> Farm:
    """base <- mid <- top and base <- linux-only (build.depends); purelib; patched."""
    docs = [
        recipe_doc("base"),
        recipe_doc("mid", depends=["base"]),
        recipe_doc("top", depends=["mid"]),
        recipe_doc("linux-only", depends=["base"], platforms=["linux-*"]),
        recipe_doc("purelib", pure=True),
        recipe_doc("patched"),
    ]
    docs[-1]["source"]["patches"] = ["fix.patch"]
    for doc in docs:  # one sdist each, so each has its own build requirements
        doc["source"]["sha256"] = sha_of(doc["project"]["name"])
    write(tmp_path / "recipes" / "patches" / "patched" / "fix.patch", "--- a\n+++ b\n")
    platforms: dict[str, str | dict[str, Any]] = {
        pid: platform_doc(pid, pure=pid == PURE, backend="cibuildwheel" if pid == WIN else "native")
        for pid in sorted(ALL)
    }
    return load_farm(make_farm(tmp_path, {d["project"]["name"]: d for d in docs}, platforms))


# ---- changed_files --------------------------------------------------------------------


def test_changed_files_sees_committed_staged_unstaged_and_untracked(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    write(tmp_path / "recipes" / "a.toml", "a = 1\n")
    write(tmp_path / "recipes" / "b.toml", "b = 1\n")
    write(tmp_path / "recipes" / "gone.toml", "g = 1\n")
    write(tmp_path / "locks" / "cp312.txt", "x==1\n")
    write(tmp_path / "README.md", "farm\n")
    write(tmp_path / ".gitignore", "recipes/*.swp\n")
    base = commit_all(tmp_path, "base")
    write(tmp_path / "recipes" / "a.toml", "a = 2\n")
    commit_all(tmp_path, "committed")  # committed since base
    write(tmp_path / "locks" / "cp312.txt", "x==2\n")
    git(tmp_path, "add", "locks/cp312.txt")  # staged
    write(tmp_path / "recipes" / "b.toml", "b = 2\n")  # unstaged
    (tmp_path / "recipes" / "gone.toml").unlink()  # deleted
    write(tmp_path / "recipes" / "new.toml", "n = 1\n")  # untracked
    write(tmp_path / "recipes" / "patches" / "new" / "fix.patch", "p\n")  # untracked
    write(tmp_path / "platforms" / "linux-x86_64-cp315.toml", "p = 1\n")  # untracked
    write(tmp_path / "recipes" / "a.toml.swp", "editor\n")  # ignored
    write(tmp_path / "README.md", "farm, changed\n")  # outside the farm's inputs
    write(tmp_path / "notes.txt", "untracked, outside\n")
    assert changed_files(tmp_path, base) == [
        "locks/cp312.txt",
        "platforms/linux-x86_64-cp315.toml",
        "recipes/a.toml",
        "recipes/b.toml",
        "recipes/gone.toml",
        "recipes/new.toml",
        "recipes/patches/new/fix.patch",
    ]
    assert changed_files(tmp_path, "HEAD") == [
        "locks/cp312.txt",
        "platforms/linux-x86_64-cp315.toml",
        "recipes/b.toml",
        "recipes/gone.toml",
        "recipes/new.toml",
        "recipes/patches/new/fix.patch",
    ]


def test_changed_files_names_a_revision_git_does_not_know(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    write(tmp_path / "recipes" / "a.toml", "a = 1\n")
    commit_all(tmp_path, "base")
    with pytest.raises(CurationError) as caught:
        changed_files(tmp_path, "origin/no-such-branch")
    assert caught.value.message.startswith("git cannot compare with 'origin/no-such-branch': ")
    assert "fetch-depth: 0" in caught.value.fix


def test_changed_files_sees_an_untracked_lock(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    write(tmp_path / "locks" / "cp312.txt", "x==1\n")
    base = commit_all(tmp_path, "base")
    write(tmp_path / "locks" / "cp315.txt", "x==1\n")
    assert changed_files(tmp_path, base) == ["locks/cp315.txt"]


# ---- affected: recipes, patches, platforms --------------------------------------------


def test_a_recipe_change_rebuilds_it_and_its_build_dependents(tmp_path: Path) -> None:
    farm = farm_of(tmp_path)
    change = affected(farm, ["recipes/base.toml"], "HEAD", tmp_path / "cache")
    assert set(change.recipes) == {"base", "mid", "top", "linux-only"}
    assert change.recipes["base"] == change.recipes["mid"] == change.recipes["top"] == ALL
    assert change.reasons == {
        "base": "recipe changed",
        "mid": "builds against base",
        "top": "builds against base",  # transitively: the first reason found stays
        "linux-only": "builds against base",
    }
    jobs = {j.key for j in jobs_for(farm, change, [])}
    assert jobs == {f"{n}@{p}" for n in ("base", "mid", "top") for p in ALL} | {
        f"linux-only@{PURE}",
        f"linux-only@{LINUX39}",
    }


def test_a_build_dependent_is_rebuilt_only_where_it_is_built(tmp_path: Path) -> None:
    farm = farm_of(tmp_path)
    change = affected(farm, ["recipes/base.toml"], "HEAD", tmp_path / "cache")
    assert change.recipes["linux-only"] == {PURE, LINUX39}


def test_patches_and_platform_files_select_their_recipes(tmp_path: Path) -> None:
    farm = farm_of(tmp_path)
    change = affected(
        farm, ["recipes/patches/patched/fix.patch", f"platforms/{LINUX39}.toml"], "HEAD",
        tmp_path / "cache",
    )  # fmt: skip
    # The platform file touches every recipe built there; linux-only is not built on WIN.
    assert change.recipes == {
        "patched": ALL,
        **{n: frozenset({LINUX39}) for n in ("base", "mid", "top", "linux-only", "purelib")},
    }
    assert change.reasons["patched"] == "patches changed"
    assert change.reasons["base"] == f"platform {LINUX39} changed"


def test_files_that_name_no_current_recipe_or_platform_change_nothing(tmp_path: Path) -> None:
    farm = farm_of(tmp_path)
    files = [
        "recipes/gone.toml",  # deleted since the revision
        "recipes/patches/gone/fix.patch",
        "recipes/patches/patched",  # not a file under a recipe's patch directory
        "recipes/README.md",
        "recipes/sub/base.toml",
        "platforms/linux-x86_64-cp315.toml",  # deleted platform
        "platforms/README.md",
    ]
    assert affected(farm, files, "HEAD", tmp_path / "cache") == Change(recipes={}, reasons={})


# ---- affected: locks ------------------------------------------------------------------


def lock_text(pins: dict[str, str], via: dict[str, str]) -> str:
    """A lock as `uv pip compile --generate-hashes` writes it, `# via` lines included."""
    lines = ["# This file was autogenerated by uv via the following command:",
             "#    uv pip compile --generate-hashes locks/build-requirements.in"]  # fmt: skip
    for name, version in sorted(pins.items()):
        digest = hashlib.sha256(f"{name}=={version}".encode()).hexdigest()
        lines += [f"{name}=={version} \\", f"    --hash=sha256:{digest}"]
        lines.append(f"    # via {via.get(name, '-r locks/build-requirements.in')}")
    return "\n".join(lines) + "\n"


PINS = {"build": "1.2.2", "packaging": "24.2", "pyproject-hooks": "1.2.0",
        "flit-core": "3.9.0", "setuptools": "75.0.0", "wheel": "0.45.0"}  # fmt: skip
VIA = {"packaging": "build", "pyproject-hooks": "build"}


def lock_farm(
    tmp_path: Path, requires: dict[str, list[str]], *, shared: bool = False
) -> tuple[Farm, str, Path]:
    """The farm in a git repository with every recipe's committed locks/<name>/cp312.txt
    (with `shared`, the one locks/cp312.txt of old instead), and the build requirements
    each recipe's sdist declares (memoized in the cache, as `view` keeps them); a recipe
    missing from `requires` has no sdist at hand."""
    farm = farm_of(tmp_path)
    cache = tmp_path / "cache"
    for name, texts in requires.items():
        remember(cache, sha_of(name), SdistFacts(newest_mtime=0, build_requires=tuple(texts)))
    for name in [""] if shared else farm.recipes:
        write(farm.locks / name / "cp312.txt", lock_text(PINS, VIA))
    write(tmp_path / ".gitignore", "cache/\n")
    git(tmp_path, "init", "-q")
    return farm, commit_all(tmp_path, "base"), cache


SETUPTOOLS = ["setuptools>=61"]
FLIT = ["flit_core>=3.2,<4"]


def relock(farm: Farm, name: str, pins: dict[str, str]) -> str:
    write(farm.locks / name / "cp312.txt", lock_text(pins, VIA))
    return f"locks/{name}/cp312.txt"


def test_a_lock_change_rebuilds_the_recipe_where_its_locked_closure_moved(
    tmp_path: Path,
) -> None:
    # patched has no sdist at hand.
    requires = {"base": SETUPTOOLS, "mid": FLIT, "top": FLIT, "linux-only": FLIT, "purelib": FLIT}
    farm, rev, cache = lock_farm(tmp_path, requires)
    on_cp312 = frozenset({PURE, WIN})

    path = relock(farm, "base", {**PINS, "setuptools": "75.1.0"})
    change = affected(farm, [path], rev, cache)
    # base needs setuptools; mid and top build against base.
    assert {n: p for n, p in change.recipes.items() if n != "linux-only"} == {
        "base": on_cp312, "mid": on_cp312, "top": on_cp312,
    }  # fmt: skip
    assert PURE in change.recipes["linux-only"]
    assert change.reasons["linux-only"] == "builds against base"
    assert change.reasons["base"] == "locks/base/cp312.txt pins changed"
    assert change.reasons["mid"] == "builds against base"
    assert list((tmp_path / "locks").glob(".plan-*")) == []  # the old lock's copy

    # The same pin moved in a flit user's lock: not in its closure, nothing to rebuild.
    path = relock(farm, "mid", {**PINS, "setuptools": "75.1.0"})
    assert affected(farm, [path], rev, cache).recipes == {}

    # packaging is in every closure: pypa/build, the frontend, requires it.
    path = relock(farm, "purelib", {**PINS, "packaging": "25.0"})
    change = affected(farm, [path], rev, cache)
    assert change.recipes == {"purelib": frozenset({PURE, WIN, LINUX39})}  # reusers follow
    assert change.reasons["purelib"] == "locks/purelib/cp312.txt pins changed"

    # A recipe whose sdist is not at hand is rebuilt rather than guessed.
    path = relock(farm, "patched", {**PINS, "wheel": "0.46.0"})
    assert affected(farm, [path], rev, cache).recipes == {"patched": on_cp312}


def test_per_recipe_locks_with_the_shared_locks_pins_rebuild_nothing(tmp_path: Path) -> None:
    requires = {name: FLIT for name in ("base", "mid", "top", "linux-only", "purelib", "patched")}
    farm, rev, cache = lock_farm(tmp_path, requires, shared=True)
    (farm.locks / "cp312.txt").unlink()
    files = [relock(farm, name, PINS) for name in requires]
    assert affected(farm, ["locks/cp312.txt", *files], rev, cache).recipes == {}
    files = [relock(farm, "base", {**PINS, "packaging": "25.0"})]
    assert affected(farm, files, rev, cache).recipes["base"] == frozenset({PURE, WIN})


def test_a_lock_change_ignores_requirements_whose_marker_excludes_the_lock(
    tmp_path: Path,
) -> None:
    requires = {name: FLIT for name in ("base", "mid", "top", "linux-only", "purelib", "patched")}
    requires["purelib"] = [*FLIT, "tomli>=1.1; python_version < '3.11'"]  # not in cp312's lock
    farm, rev, cache = lock_farm(tmp_path, requires)
    path = relock(farm, "purelib", {**PINS, "wheel": "0.46.0"})
    assert affected(farm, [path], rev, cache).recipes == {}


def test_a_recipes_overrides_stand_in_for_what_its_sdist_asks(tmp_path: Path) -> None:
    requires = {name: FLIT for name in ("base", "mid", "top", "linux-only", "purelib", "patched")}
    requires["base"] = ["setuptools<70"]  # the lock's 75 only by the override
    farm, rev, cache = lock_farm(tmp_path, requires)
    recipe = farm.recipes["base"]
    farm.recipes["base"] = dataclasses.replace(recipe, overrides=("setuptools>=75",))
    path = relock(farm, "base", {**PINS, "setuptools": "75.1.0"})
    assert affected(farm, [path], rev, cache).reasons["base"] == f"{path} pins changed"
    farm.recipes["base"] = recipe  # without it, the lock cannot meet <70: rebuilt, loudly
    assert "base" in affected(farm, [path], rev, cache).recipes


# ---- jobs and the plan document ---------------------------------------------------------


def test_jobs_for_keep_the_pure_build_a_reuse_needs_and_filter_by_glob(tmp_path: Path) -> None:
    farm = farm_of(tmp_path)
    change = affected(farm, [f"platforms/{WIN}.toml"], "HEAD", tmp_path / "cache")
    jobs = jobs_for(farm, change, [])
    assert sorted((j.key, j.reuses) for j in jobs) == [
        (f"base@{WIN}", None), (f"mid@{WIN}", None), (f"patched@{WIN}", None),
        (f"purelib@{PURE}", None),  # not changed there, but the WIN job reuses its wheel
        (f"purelib@{WIN}", PURE), (f"top@{WIN}", None),
    ]  # fmt: skip
    change = affected(farm, ["recipes/base.toml"], "HEAD", tmp_path / "cache")
    assert {j.key for j in jobs_for(farm, change, ["linux-*-cp39", "macos-*"])} == {
        f"{n}@{LINUX39}" for n in ("base", "mid", "top", "linux-only")
    }


def test_plan_document_lists_jobs_and_one_matrix_entry_per_platform(tmp_path: Path) -> None:
    farm = farm_of(tmp_path)
    files = ["recipes/patches/patched/fix.patch", "recipes/purelib.toml"]
    change = affected(farm, files, "origin/main", tmp_path / "cache")
    jobs = jobs_for(farm, change, [PURE, WIN])
    document = plan_document(farm, change, jobs, files, "origin/main")
    assert json.loads(json.dumps(document)) == document  # what `--json` prints
    assert document == {
        "changed_since": "origin/main",
        "changed_files": files,
        "jobs": [
            {"project": "patched", "platform": PURE, "backend": "native", "reuses": None,
             "reason": "patches changed"},
            {"project": "patched", "platform": WIN, "backend": "cibuildwheel", "reuses": None,
             "reason": "patches changed"},
            {"project": "purelib", "platform": PURE, "backend": "native", "reuses": None,
             "reason": "recipe changed"},
            {"project": "purelib", "platform": WIN, "backend": "cibuildwheel", "reuses": PURE,
             "reason": "recipe changed"},
        ],
        "include": [
            {"platform": PURE, "backend": "native", "projects": "patched purelib"},
            {"platform": WIN, "backend": "cibuildwheel", "projects": "patched purelib"},
        ],
    }  # fmt: skip


def test_a_backend_change_rebuilds_what_builds_with_it(tmp_path: Path) -> None:
    from tests.unit.test_bootstrap import _pin

    farm = farm_of(tmp_path)
    # patched's locks pin purelib at the set's version: its builds install the set's
    # own purelib wheel, so a new purelib rebuilds patched where it is built.
    for interpreter in farm.lock_interpreters(farm.recipes["patched"]):
        path = farm.lock_path("patched", interpreter)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_pin("build", "1.3.0", "-r requirements.in") + _pin(
            "purelib", "1.0.0", "-r requirements.in"))  # fmt: skip
    change = affected(farm, ["recipes/purelib.toml"], "HEAD", tmp_path / "cache")
    assert change.reasons["patched"] == "builds against purelib"
    assert change.recipes["patched"] == {p for p in ALL if farm.recipes["patched"].selects(p)}
