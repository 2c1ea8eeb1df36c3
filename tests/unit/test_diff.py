"""`ipwhl diff`: the pure comparison of two manifests, and the command on two real trees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from builder.cli import main
from builder.pipeline.store import input_hash
from builder.tree.diff import (
    NOT_REPRODUCIBLE,
    InputChange,
    describe,
    diff_manifests,
    render_markdown,
    render_text,
    shorten,
    summary,
    to_json,
)
from tests.fixtures.farm_files import dumps, recipe_doc
from tests.unit.test_assemble import P311, P312, P313, make_synthetic

SDIST_A, SDIST_B = "a" * 64, "b" * 64


def inputs(**changes: Any) -> dict[str, Any]:
    """A build's inputs, shaped like the farm's; keyword arguments replace top-level keys."""
    values: dict[str, Any] = {
        "kind": "build",
        "sdist": SDIST_A,
        "network-isolated": True,
        "build-requirements": ["setuptools==75.0.0", "wheel==0.45.0"],
        "build": {"env": {"CFLAGS": "-O2"}},
        "toolchain": {"cc": "gcc 12.2.0", "ld": "GNU ld 2.40"},
    }
    return values | changes


def wheel(sha: str = "1", values: dict[str, Any] | None = None) -> dict[str, Any]:
    """One platform's entry; `sha` is one hex digit, repeated into a sha256."""
    values = inputs() if values is None else values
    return {"sha256": sha * 64, "size": 100, "input_hash": input_hash(values),
            "inputs": values, "built_on": P312, "built_by": "", "network_isolated": True,
            "tests": []}  # fmt: skip


def manifest(
    projects: dict[str, tuple[str, dict[str, dict[str, Any]]]],
    *,
    platforms: tuple[str, ...] = (P311, P312),
    farm: dict[str, str] | None = None,
    missing: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A manifest as `ipwhl assemble` writes it: project -> (version, platform -> wheel)."""
    doc: dict[str, Any] = {}
    for name, (version, wheels) in projects.items():
        dist = f"{name.replace('-', '_')}-{version}"
        doc[name] = {
            "version": version, "license": "MIT", "recipe_sha256": "c" * 64, "patches": {},
            "sdist": {"filename": f"{dist}.tar.gz", "sha256": SDIST_A},
            "platforms": {p: w | {"wheel": f"{dist}-{p}.whl"} for p, w in wheels.items()},
        }  # fmt: skip
    return {"projects": doc, "platforms": list(platforms), "farm": farm or {},
            "missing": missing or {}, "profile": "unixfs-v1-2025"}  # fmt: skip


BOTH = {P311: wheel(), P312: wheel()}


def test_equal_trees_have_no_differences() -> None:
    old = manifest({"demo": ("1.0", BOTH)}, farm={"platforms/x.toml": "d" * 64})
    diff = diff_manifests(old, json.loads(json.dumps(old)))
    assert diff.empty
    assert render_text(diff) == "no differences\n"
    assert to_json(diff)["summary"]["text"] == "no differences"


def test_projects_added_removed_bumped_and_downgraded() -> None:
    old = manifest({"gone": ("0.1", BOTH), "up": ("1.9", BOTH), "down": ("2.0", BOTH),
                    "same": ("1.0", BOTH)})  # fmt: skip
    new = manifest({"fresh": ("3.0", {P312: wheel()}), "up": ("1.10", BOTH),
                    "down": ("2.0rc1", BOTH), "same": ("1.0", BOTH)})  # fmt: skip
    diff = diff_manifests(old, new)
    assert [(e.project, e.version, e.platforms) for e in diff.projects_added] == [
        ("fresh", "3.0", (P312,))
    ]
    assert [(e.project, e.version) for e in diff.projects_removed] == [("gone", "0.1")]
    # By packaging's order, not the string's: 1.10 is after 1.9, 2.0rc1 before 2.0.
    assert [(b.project, b.old, b.new, b.downgraded) for b in diff.bumped] == [
        ("down", "2.0", "2.0rc1", True),
        ("up", "1.9", "1.10", False),
    ]
    # Equal bytes under a new name are not a changed wheel; wheels of added or removed
    # projects are counted with their project.
    assert diff.wheels_changed == diff.wheels_added == diff.wheels_removed == ()
    assert summary(diff) == "1 project added, 1 removed, 2 bumped; 0 wheels changed"
    text = render_text(diff)
    assert "  + fresh 3.0 (1 wheel)\n" in text
    assert "  - gone 0.1\n" in text
    assert "  down 2.0 -> 2.0rc1 (downgraded)\n  up 1.9 -> 1.10\n" in text


def test_wheels_added_and_removed_say_why_one_is_missing() -> None:
    old = manifest({"demo": ("1.0", BOTH)}, platforms=(P311, P312, P313))
    new = manifest(
        {"demo": ("1.0", {P312: wheel(), P313: wheel()})},
        platforms=(P311, P312, P313),
        missing={"demo": {P311: "the build failed: see the log"}},
    )
    diff = diff_manifests(old, new)
    assert [(w.project, w.platform) for w in diff.wheels_added] == [("demo", P313)]
    assert [(w.platform, w.why) for w in diff.wheels_removed] == [
        (P311, "the build failed: see the log")
    ]
    assert summary(diff).endswith("0 wheels changed, 1 added, 1 removed")
    text = render_text(diff)
    assert f"wheels added:\n  + demo on {P313}\n" in text
    assert f"  - demo on {P311} (missing: the build failed: see the log)\n" in text


def test_a_changed_wheel_names_the_inputs_that_differ() -> None:
    changed = inputs(
        sdist=SDIST_B,
        build={"env": {"CFLAGS": "-O3", "NEW": "1"}},
        toolchain={"cc": "gcc 13.1.0", "ld": "GNU ld 2.40"},
        **{"build-requirements": ["setuptools==75.1.0", "wheel==0.45.0"]},
    )
    del changed["network-isolated"]
    old = manifest({"demo": ("1.0", {P312: wheel("1")})})
    new = manifest({"demo": ("1.0", {P312: wheel("2", changed)})})
    diff = diff_manifests(old, new)
    (change,) = diff.wheels_changed
    assert change.reproducible
    assert (change.old_sha256, change.new_sha256) == ("1" * 64, "2" * 64)
    assert [i.path for i in change.inputs] == [
        "build.env.CFLAGS", "build.env.NEW", "build-requirements", "network-isolated",
        "sdist", "toolchain.cc",
    ]  # fmt: skip
    text = render_text(diff)
    assert f"wheels changed:\n  demo on {P312}:\n" in text
    for line in (
        "build-requirements: -setuptools==75.0.0 +setuptools==75.1.0",
        "build.env.CFLAGS: -O2 -> -O3",
        "build.env.NEW: (absent) -> 1",
        "network-isolated: true -> (absent)",
        "sdist: aaaaaaaaaaaa… -> bbbbbbbbbbbb…",
        "toolchain.cc: gcc 12.2.0 -> gcc 13.1.0",
    ):
        assert f"    {line}\n" in text
    assert NOT_REPRODUCIBLE not in text
    assert summary(diff).endswith("; 1 wheel changed")


def test_same_inputs_different_bytes_is_not_reproducible() -> None:
    old = manifest({"demo": ("1.0", BOTH), "fine": ("1.0", BOTH)})
    fine = {P311: wheel("3", inputs(sdist=SDIST_B)), P312: wheel()}
    new = manifest({"demo": ("1.0", {P311: wheel("2"), P312: wheel("1")}), "fine": ("1.0", fine)})
    diff = diff_manifests(old, new)
    assert [(c.project, c.reproducible) for c in diff.wheels_changed] == [
        ("demo", False),
        ("fine", True),
    ]
    assert [c.project for c in diff.not_reproducible] == ["demo"]
    assert "2 wheels changed (1 not reproducible)" in summary(diff)
    assert f"  demo on {P311}: {NOT_REPRODUCIBLE}\n" in render_text(diff)
    assert NOT_REPRODUCIBLE == "same inputs, different bytes: not reproducible"


def test_rebuilt_to_the_same_bytes_is_counted_not_changed() -> None:
    old = manifest({"demo": ("1.0", BOTH)})
    moved = wheel("1", inputs(toolchain={"cc": "gcc 13.1.0", "ld": "GNU ld 2.40"}))
    new = manifest({"demo": ("1.0", {P311: moved, P312: moved})})
    diff = diff_manifests(old, new)
    assert diff.wheels_changed == ()
    assert [w.platform for w in diff.rebuilt_same_bytes] == [P311, P312]
    assert summary(diff) == (
        "0 projects added, 0 removed, 0 bumped; 0 wheels changed; 2 rebuilt to the same bytes"
    )


def test_platforms_and_farm_files() -> None:
    old = manifest({"demo": ("1.0", BOTH)}, platforms=(P311, P312),
                   farm={"platforms/a.toml": "1" * 64, "locks/cp311.txt": "2" * 64,
                         "libraries/zlib.toml": "3" * 64})  # fmt: skip
    new = manifest({"demo": ("1.0", BOTH)}, platforms=(P312, P313),
                   farm={"platforms/a.toml": "9" * 64, "locks/cp313.txt": "2" * 64,
                         "libraries/zlib.toml": "3" * 64})  # fmt: skip
    diff = diff_manifests(old, new)
    assert (diff.platforms_added, diff.platforms_removed) == ((P313,), (P311,))
    assert diff.farm.added == ("locks/cp313.txt",)
    assert diff.farm.removed == ("locks/cp311.txt",)
    assert diff.farm.changed == ("platforms/a.toml",)
    assert summary(diff).endswith("; 2 platforms added or removed; 3 farm files changed")
    text = render_text(diff)
    assert f"platforms:\n  + {P313}\n  - {P311}\n" in text
    assert "farm files:\n  + locks/cp313.txt\n  - locks/cp311.txt\n  ~ platforms/a.toml\n" in text


def test_platforms_with_the_same_reasons_are_one_entry() -> None:
    old = manifest({"demo": ("1.0", BOTH)})
    bumped = wheel("2", inputs(sdist=SDIST_B))
    diff = diff_manifests(old, manifest({"demo": ("1.1", {P311: bumped, P312: bumped})}))
    assert render_text(diff).count("sdist: ") == 1
    assert f"  demo on {P311}, {P312}:\n    sdist: " in render_text(diff)


def test_values_are_shortened() -> None:
    long = "x" * 200
    assert len(shorten(long)) == 60 and shorten(long).endswith("…")
    assert shorten("f" * 64) == "ffffffffffff…"
    assert shorten("") == '""'
    assert shorten({"b": 1, "a": [True]}) == '{"a": [true], "b": 1}'
    assert describe(InputChange(path="flag", old=1, new=True)) == "flag: 1 -> true"
    # JSON's 1 and true are different inputs even though Python's are equal.
    old = manifest({"demo": ("1.0", {P312: wheel("1", inputs(jobs=1))})})
    new = manifest({"demo": ("1.0", {P312: wheel("2", inputs(jobs=True))})})
    (change,) = diff_manifests(old, new).wheels_changed
    assert [i.path for i in change.inputs] == ["jobs"]


def test_json_shape() -> None:
    old = manifest({"demo": ("1.0", BOTH), "gone": ("1.0", BOTH)})
    changed = inputs(sdist=SDIST_B, extra=None)
    new = manifest({"demo": ("1.1", {P311: wheel("2"), P312: wheel("3", changed)})})
    document = to_json(diff_manifests(old, new))
    assert json.loads(json.dumps(document, sort_keys=True)) == document
    assert set(document) == {"summary", "platforms", "projects", "wheels", "farm"}
    assert document["summary"] | {"text": ""} == {
        "text": "", "projects_added": 0, "projects_removed": 1, "projects_bumped": 1,
        "wheels_added": 0, "wheels_removed": 0, "wheels_changed": 2, "not_reproducible": 1,
        "rebuilt_same_bytes": 0,
    }  # fmt: skip
    assert document["projects"]["removed"] == [
        {"project": "gone", "version": "1.0", "platforms": [P311, P312]}
    ]
    assert document["projects"]["bumped"] == [
        {"project": "demo", "old": "1.0", "new": "1.1", "downgraded": False}
    ]
    unreproducible, rebuilt = document["wheels"]["changed"]
    assert unreproducible == {
        "project": "demo", "platform": P311, "reproducible": False, "inputs": [],
        "old": {"wheel": f"demo-1.0-{P311}.whl", "sha256": "1" * 64},
        "new": {"wheel": f"demo-1.1-{P311}.whl", "sha256": "2" * 64},
    }  # fmt: skip
    # Full values, not shortened; an input only one side has keeps only that side, so
    # that a null input is not mistaken for an absent one.
    assert rebuilt["inputs"] == [
        {"path": "extra", "new": None},
        {"path": "sdist", "old": SDIST_A, "new": SDIST_B},
    ]
    assert document["farm"] == {"added": [], "removed": [], "changed": []}


def test_markdown_is_a_short_table() -> None:
    old = manifest({"demo": ("1.0", BOTH), "down": ("2.0", BOTH)})
    new = manifest({"demo": ("1.0", {P311: wheel("2"), P312: wheel("3", inputs(sdist=SDIST_B))}),
                    "down": ("1.0", BOTH), "fresh": ("0.1", {P312: wheel()})})  # fmt: skip
    text = render_markdown(diff_manifests(old, new), old="bafyold", new="bafynew")
    lines = text.splitlines()
    assert lines[0] == "### Tree diff: `bafyold` → `bafynew`"
    assert (
        lines[2]
        == "**1 project added, 0 removed, 1 bumped; 2 wheels changed (1 not reproducible)**"
    )
    why = f"**not reproducible** on {P311}, `sdist`"
    assert lines[4:7] == ["| project | change | why |", "|---|---|---|",
                          f"| demo | wheels: 2 changed | {why} |"]  # fmt: skip
    assert "| down | 2.0 → 1.0 (downgraded) |  |" in lines
    assert f"| fresh | added 0.1 | {P312} |" in lines


def test_the_command_on_two_real_trees(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synth = make_synthetic(tmp_path)
    first = synth.assemble(tmp_path / "one").tree
    # A rebuild of demo-ext on cp312 with other inputs replaces its record; cp313 gets
    # its first wheel; a new project and a lock file arrive.
    old = next(r for r in synth.store.records() if (r.project, r.platform) == ("demo-ext", P312))
    synth.store.record_path(old.input_hash).unlink()
    synth.put_wheel("demo-ext", P312, "cp312-cp312-manylinux_2_34_x86_64", salt="rebuilt")
    synth.put_wheel("demo-ext", P313, "cp313-cp313-manylinux_2_34_x86_64")
    (synth.root / "recipes" / "demo-new.toml").write_text(dumps(recipe_doc("demo-new", "0.5")))
    synth.put_wheel("demo-new", P312, "py3-none-any")
    (synth.root / "locks").mkdir(exist_ok=True)
    (synth.root / "locks" / "cp313.txt").write_text("# nothing pinned yet\n")
    second = synth.assemble(tmp_path / "two").tree

    assert main(["diff", str(first), str(second), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["old"] == {"source": str(first), "root": ""}
    assert [p["project"] for p in document["projects"]["added"]] == ["demo-new"]
    assert document["wheels"]["added"] == [
        {"project": "demo-ext", "platform": P313,
         "wheel": "demo_ext-1.0.0-cp313-cp313-manylinux_2_34_x86_64.whl"}
    ]  # fmt: skip
    (changed,) = document["wheels"]["changed"]
    assert (changed["project"], changed["platform"]) == ("demo-ext", P312)
    assert changed["inputs"] == [{"path": "salt", "old": "", "new": "rebuilt"}]
    assert document["farm"]["added"] == ["locks/cp313.txt"]

    assert main(["diff", str(first), str(second)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("1 project added, 0 removed, 0 bumped; 1 wheel changed, 1 added")
    assert main(["diff", str(first), str(first), "--markdown"]) == 0
    assert "**no differences**" in capsys.readouterr().out
    # A source that is not a tree is an error with an exit code, not a report.
    assert main(["diff", str(first), str(tmp_path / "farm")]) == 1
    assert "has no manifest.json" in capsys.readouterr().err
