"""The whole-set gates, each on a small fixture set that breaks it, asserting the message."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from builder.curation.check import check
from builder.curation.facts import Report, SetView, WheelFacts
from builder.curation.licenses import license_ids, load_allowlist
from builder.errors import Problem
from builder.model.farm import Farm, load_farm
from builder.model.lock import Lock, Pin
from tests.fixtures.farm_files import make_farm, platform_doc, recipe_doc

PURE = "linux-x86_64-cp312"
LINUX39 = "linux-x86_64-cp39"
WIN = "windows-AMD64-cp312"
PLATFORMS = (PURE, LINUX39, WIN)
LICENSE = ("x.dist-info/licenses/LICENSE",)


def farm_of(tmp_path: Path, *docs: dict[str, Any]) -> Farm:
    platforms = {pid: platform_doc(pid, pure=pid == PURE) for pid in PLATFORMS}
    make_farm(tmp_path, {d["project"]["name"]: d for d in docs}, platforms)
    return load_farm(tmp_path)


def wheel(
    name: str,
    version: str = "1.0.0",
    *,
    tag: str = "py3-none-any",
    platform: str = PURE,
    requires: tuple[str, ...] = (),
    extras: tuple[str, ...] = (),
    requires_python: str = "",
    licenses: tuple[str, ...] = LICENSE,
) -> WheelFacts:
    return WheelFacts(
        filename=f"{name.replace('-', '_')}-{version}-{tag}.whl",
        sha256=f"{name}-{version}-{tag}",
        platform=platform,
        name=name,
        version=version,
        requires_dist=requires,
        requires_python=requires_python,
        provides_extra=extras,
        license_files=licenses,
    )


def everywhere(w: WheelFacts) -> list[WheelFacts]:
    """A pure wheel as the collection lists it: the same file on every Linux platform."""
    return [WheelFacts(**{**w.__dict__, "platform": pid}) for pid in (PURE, LINUX39)]


def view_of(
    farm: Farm,
    wheels: list[WheelFacts],
    *,
    build_requires: dict[str, tuple[str, ...] | None] | None = None,
    locks: dict[tuple[str, str], Lock | None] | None = None,
) -> SetView:
    return SetView(
        recipes=farm.recipes,
        platforms=farm.platforms,
        wheels=tuple(wheels),
        build_requires=build_requires or {n: () for n in farm.recipes},
        locks=locks or {},
        locks_dir=farm.locks,
        allowlist=load_allowlist(),
    )


def codes(report: Report) -> list[str]:
    return [p.code for p in report.problems]


def only(report: Report, code: str) -> str:
    hits = [p for p in report.problems if p.code == code]
    assert len(hits) == 1, "\n".join(map(str, report.problems))
    return f"{hits[0].file.name}: {hits[0].field}: {hits[0].message} | fix: {hits[0].fix}"


def pure_recipe(name: str, version: str = "1.0.0", **build: Any) -> dict[str, Any]:
    return recipe_doc(name, version, pure=True, **build)


def test_a_closed_set_passes(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"), pure_recipe("lib"))
    wheels = everywhere(wheel("app", requires=("lib>=1",))) + everywhere(wheel("lib"))
    report = check(view_of(farm, wheels))
    assert report.ok, report.problems
    # Windows has no wheels here: said, not passed over.
    assert any("windows-AMD64-cp312" in note for note in report.unchecked)


def test_missing_dependency(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"))
    report = check(view_of(farm, everywhere(wheel("app", requires=("missing-lib>=2",)))))
    assert codes(report) == ["C020"]
    message = only(report, "C020")
    assert message.startswith("app.toml: Requires-Dist: app needs missing-lib>=2 on ")
    assert "which is not in the set" in message
    assert "fix: add it: `ipwhl new missing-lib`" in message


def test_marker_only_dependency_fails_on_its_platform_only(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"))
    requires = ('colorama; sys_platform == "win32"',)
    report = check(view_of(farm, everywhere(wheel("app", requires=requires))))
    message = only(report, "C020")
    assert 'on windows-AMD64-cp312 (marker: sys_platform == "win32")' in message
    assert "linux" not in message.split("|")[0]


def test_conflicting_second_version(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"), recipe_doc("lib"))
    wheels = [
        *everywhere(wheel("app", requires=("lib>=2",))),
        wheel("lib", tag="cp312-cp312-manylinux_2_34_x86_64", platform=PURE),
        wheel("lib", "2.0.0", tag="cp39-cp39-manylinux_2_34_x86_64", platform=LINUX39),
    ]
    report = check(view_of(farm, wheels))
    assert only(report, "C001") == (
        "lib.toml: project.version: the set holds lib 2.0.0 beside the pinned 1.0.0 "
        "(lib-2.0.0-cp39-cp39-manylinux_2_34_x86_64.whl) | fix: IPWHL is singly-versioned: "
        "rebuild the stale wheels from this recipe (`ipwhl build`), or fix a recipe whose "
        "sdist builds another version"
    )
    # The dependent's requirement is checked against the one pinned version.
    assert "app needs lib>=2 on " in only(report, "C022")
    assert "the set has lib 1.0.0" in only(report, "C022")


def test_non_free_license(tmp_path: Path) -> None:
    doc = pure_recipe("app")
    doc["project"]["license"] = "MIT OR CC-BY-NC-4.0"
    farm = farm_of(tmp_path, doc)
    report = check(view_of(farm, everywhere(wheel("app"))))
    assert only(report, "C040").startswith(
        "app.toml: project.license: CC-BY-NC-4.0 (in 'MIT OR CC-BY-NC-4.0') is not on the "
        "free-software allowlist | fix: IPWHL carries only free software"
    )


def test_license_files_must_travel_with_the_wheel(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"))
    report = check(view_of(farm, everywhere(wheel("app", licenses=()))))
    assert "app-1.0.0-py3-none-any.whl carries no license file" in only(report, "C041")


def test_the_license_file_fix_names_the_wheels_own_recipe(tmp_path: Path) -> None:
    # "zeta" sorts after "app": a fix naming the last recipe seen would name zeta.
    farm = farm_of(tmp_path, pure_recipe("app"), pure_recipe("zeta"))
    wheels = everywhere(wheel("app", licenses=())) + everywhere(wheel("zeta"))
    found = only(check(view_of(farm, wheels)), "C041")
    assert found.startswith("app.toml: ") and "recipes/patches/app/" in found
    assert "zeta" not in found


@pytest.mark.parametrize(
    ("names", "flagged", "other", "code"),
    [
        (("reqeusts",), "reqeusts", "requests", "C051"),  # a swap of two letters
        (("co1orama",), "co1orama", "colorama", "C051"),  # a look-alike digit
        (("colorama", "colourama"), "colourama", "colorama", "C050"),  # one insertion
    ],
)
def test_confusable_name(
    tmp_path: Path, names: tuple[str, ...], flagged: str, other: str, code: str
) -> None:
    farm = farm_of(tmp_path, *(pure_recipe(n) for n in names))
    wheels = [w for n in names for w in everywhere(wheel(n))]
    report = check(view_of(farm, wheels))
    assert only(report, code) == (
        f"{flagged}.toml: project.confusable-with: {flagged!r} is easily mistaken for the "
        f"{'well-known project' if code == 'C051' else 'project in the set'} {other!r} | "
        f"fix: check that {flagged} is the project you mean (not a typosquat of {other}), "
        f"then add confusable-with = [{other!r}]"
    )


def test_confusable_with_acknowledges_it(tmp_path: Path) -> None:
    doc = pure_recipe("reqeusts")
    doc["project"]["confusable-with"] = ["requests"]
    farm = farm_of(tmp_path, doc)
    assert check(view_of(farm, everywhere(wheel("reqeusts")))).ok


def test_two_wheels_for_one_platform(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, recipe_doc("lib"))
    wheels = [
        wheel("lib", tag="py3-none-any", platform=PURE),
        wheel("lib", tag="cp39-cp39-manylinux_2_34_x86_64", platform=LINUX39),
    ]
    report = check(view_of(farm, wheels))
    assert only(report, "C011") == (
        "lib.toml: build.pure: 2 wheels would install on linux-x86_64-cp39: "
        "lib-1.0.0-cp39-cp39-manylinux_2_34_x86_64.whl, lib-1.0.0-py3-none-any.whl | "
        "fix: exactly one wheel per platform: a pure wheel serves every platform and an "
        "abi3 wheel every later interpreter, so build one kind only (`pure`, or the same "
        "tag scheme on every interpreter)"
    )


def test_abi3_overlaps_a_version_specific_wheel(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, recipe_doc("lib"))
    wheels = [
        wheel("lib", tag="cp39-abi3-manylinux_2_34_x86_64", platform=LINUX39),
        wheel("lib", tag="cp312-cp312-manylinux_2_34_x86_64", platform=PURE),
    ]
    message = only(check(view_of(farm, wheels)), "C011")
    assert "2 wheels would install on linux-x86_64-cp312" in message


def test_a_missing_wheel_on_a_built_platform(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, recipe_doc("lib"), pure_recipe("app"))
    wheels = [*everywhere(wheel("app")), wheel("lib", tag="cp312-cp312-manylinux_2_34_x86_64")]
    assert only(check(view_of(farm, wheels)), "C010") == (
        "lib.toml: (wheel): no current wheel of lib 1.0.0 for linux-x86_64-cp39 | "
        "fix: run `ipwhl build lib --platform linux-x86_64-cp39`"
    )


def test_a_wheel_served_where_it_was_not_tested(tmp_path: Path) -> None:
    # The pure wheel passed on cp312 only; its cp39 job failed, yet by its tags the root
    # index serves it there. cp39 is built (another project has a wheel there).
    farm = farm_of(tmp_path, pure_recipe("lib"), pure_recipe("app"))
    wheels = [*everywhere(wheel("app")), wheel("lib", platform=PURE)]
    assert only(check(view_of(farm, wheels)), "C013") == (
        "lib.toml: (wheel): lib-1.0.0-py3-none-any.whl would install on linux-x86_64-cp39 "
        "from the root index, but it has not passed its build and test there | "
        "fix: run `ipwhl build lib --platform linux-x86_64-cp39` and make it pass (its log "
        "says what failed); a wheel must be tested wherever its tags let pip install it"
    )
    assert check(view_of(farm, [*everywhere(wheel("app")), *everywhere(wheel("lib"))])).ok


def test_requested_extras_are_part_of_the_closure(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"), pure_recipe("lib"))
    wheels = everywhere(wheel("app", requires=("lib[fast]",))) + everywhere(
        wheel("lib", requires=('speedups; extra == "fast"',), extras=("fast",))
    )
    assert "app needs" not in only(check(view_of(farm, wheels)), "C020")
    assert 'lib needs speedups; extra == "fast" on' in only(check(view_of(farm, wheels)), "C020")


def test_an_extra_the_dependency_does_not_have(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"), pure_recipe("lib"))
    wheels = everywhere(wheel("app", requires=("lib[turbo]",))) + everywhere(wheel("lib"))
    assert "lib 1.0.0 has no extra 'turbo'" in only(check(view_of(farm, wheels)), "C023")


def test_requires_python_must_admit_every_interpreter(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"))
    report = check(view_of(farm, everywhere(wheel("app", requires_python=">=3.10"))))
    message = only(report, "C024")
    assert "requires Python >=3.10, which excludes the interpreter on linux-x86_64-cp39" in message


def test_an_excluded_first_patch_release_does_not_exclude_its_line(tmp_path: Path) -> None:
    """cryptography's `!=3.9.0`: a cp39 platform runs a current 3.9.x, not 3.9.0."""
    farm = farm_of(tmp_path, pure_recipe("app"))
    spec = ">=3.7,!=3.9.0,!=3.9.1"
    assert "C024" not in str(check(view_of(farm, everywhere(wheel("app", requires_python=spec)))))


def test_a_rooted_interpreter_is_held_to_its_own_patch_release(tmp_path: Path) -> None:
    """soupsieve 4 says >=3.9.5 here (>=3.11.5 in life): a platform whose root ships
    CPython 3.9.2 cannot install it, though the line's newest release could."""
    farm = farm_of(tmp_path, pure_recipe("app"))
    wheels = everywhere(wheel("app", requires_python=">=3.9.5"))
    assert "C024" not in str(check(view_of(farm, wheels)))
    view = dataclasses.replace(view_of(farm, wheels), python_full_versions={LINUX39: "3.9.2"})
    assert "excludes the interpreter on linux-x86_64-cp39 (CPython 3.9.2)" in only(
        check(view), "C024"
    )
    view = dataclasses.replace(view, python_full_versions={LINUX39: "3.9.7"})
    assert "C024" not in str(check(view))


def test_build_requirements_need_a_lock_that_covers_them(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, recipe_doc("lib", requires=["cython>=3"]))
    pin = Pin(name="setuptools", version=Version("80.0"), hashes=("sha256:" + "0" * 64,),
              required_by=("-r",))  # fmt: skip
    lock = Lock(path=tmp_path / "locks" / "lib" / "cp312.txt", pins={"setuptools": pin})
    view = view_of(
        farm,
        [wheel("lib", tag="cp312-cp312-manylinux_2_34_x86_64")],
        build_requires={"lib": ("setuptools>=61",)},
        locks={("lib", "cp312"): lock, ("lib", "cp39"): None},
    )
    report = check(view, [farm.platforms[PURE]])
    assert only(report, "C030").startswith("cp39.txt: (file): no build lock of lib for cp39")
    assert only(report, "C031") == (
        "lib.toml: build.requires: build requirement 'cython>=3' is not in "
        "locks/lib/cp312.txt | fix: refresh the recipe's lock: `ipwhl build-lock lib`"
    )


def test_build_requirements_without_the_sdist_are_reported_unchecked(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"))
    report = check(view_of(farm, everywhere(wheel("app")), build_requires={"app": None}))
    assert report.ok
    assert any("not read (sdist not in the cache): app" in note for note in report.unchecked)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    doc = pure_recipe("reqeusts")
    doc["project"]["license"] = "CC-BY-NC-4.0"
    farm = farm_of(tmp_path, doc)
    wheels = everywhere(wheel("reqeusts", requires=("nowhere",), licenses=()))
    assert sorted(set(codes(check(view_of(farm, wheels))))) == ["C020", "C040", "C041", "C051"]


def test_license_ids_split_expressions() -> None:
    assert license_ids("(MIT OR Apache-2.0) AND GPL-2.0-or-later WITH Classpath-exception-2.0") == (
        ["MIT", "Apache-2.0", "GPL-2.0-or-later"],
        ["Classpath-exception-2.0"],
    )


def _lifecycle_problems(
    farm: Farm, today: datetime.date, keep: frozenset[str] = frozenset()
) -> list[Problem]:
    view = dataclasses.replace(view_of(farm, []), keep=keep)
    return [p for p in check(view, today=today).problems if p.code in ("C060", "C061")]


def test_a_platform_past_its_end_of_life_is_named_unless_the_policy_keeps_it(
    tmp_path: Path,
) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"))
    before = _lifecycle_problems(farm, datetime.date(2025, 10, 31))  # 3.9's last day
    assert [p for p in before if p.code == "C060"] == []
    after = [p for p in _lifecycle_problems(farm, datetime.date(2025, 11, 1)) if p.code == "C060"]
    assert [(p.file.name, p.field) for p in after] == [("linux-x86_64-cp39.toml", "interpreter")]
    assert "end of life on 2025-10-31" in after[0].message
    assert 'keep = ["3.9"]' in after[0].fix and "locks/cp39.txt" in after[0].fix
    kept = _lifecycle_problems(farm, datetime.date(2026, 12, 1), keep=frozenset({"3.9"}))
    assert [p for p in kept if p.code == "C060"] == []


def test_a_live_line_no_platform_builds_is_named_per_os_and_arch(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"))
    found = _lifecycle_problems(farm, datetime.date(2026, 12, 1))
    missing = sorted(p.file.name for p in found if p.code == "C061")
    # linux-x86_64 has cp39 and cp312, windows-AMD64 cp312: 3.11, 3.13-3.15 are missing.
    lines = ("cp311", "cp313", "cp314", "cp315")
    assert missing == sorted(f"{osarch}-{t}.toml" for osarch in ("linux-x86_64", "windows-AMD64")
                             for t in lines)  # fmt: skip
    before_315 = _lifecycle_problems(farm, datetime.date(2026, 9, 30))
    assert not any("cp315" in p.file.name for p in before_315)  # not released yet


def test_a_wheel_naming_its_build_machine_fails_once(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, pure_recipe("app"))
    traced = WheelFacts(**{
        **wheel("app").__dict__,
        "machine_traces": ("app/_speedups.so: RUNPATH /root/.pyenv/versions/3.12.1/lib",),
    })  # fmt: skip
    report = check(view_of(farm, everywhere(traced)))
    assert codes(report) == ["C070"]
    message = only(report, "C070")
    assert "RUNPATH /root/.pyenv/versions/3.12.1/lib" in message
    assert 'toolchain = "zig"' in message and "build.env" in message


def test_a_wheel_needing_a_newer_glibc_than_its_policy_fails(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, recipe_doc("fast", pure=False))
    tag = "cp312-cp312-manylinux_2_34_x86_64"
    ok = WheelFacts(**{**wheel("fast", tag=tag).__dict__, "glibc": (2, 34)})
    assert "C071" not in codes(check(view_of(farm, [ok])))
    newer = WheelFacts(**{**wheel("fast", tag=tag).__dict__, "glibc": (2, 38)})
    message = only(check(view_of(farm, [newer])), "C071")
    assert "needs glibc 2.38 on linux-x86_64-cp312, which promises manylinux_2_34_x86_64" in message


def test_a_wheel_sharing_its_static_cxx_runtime_fails_once(tmp_path: Path) -> None:
    farm = farm_of(tmp_path, recipe_doc("fast", pure=False))
    clean = wheel("fast", tag="cp312-cp312-manylinux_2_17_x86_64")
    assert "C072" not in codes(check(view_of(farm, [clean])))
    leaking = WheelFacts(**{**clean.__dict__, "cxx_runtime": (
        "fast/_ext.so: exports __cxa_throw", "fast/_ext.so: exports _ZTISt9exception",
        "fast/_ext.so: exports __gxx_personality_v0", "fast/_ext.so: imports __cxa_begin_catch",
    )})  # fmt: skip
    message = only(check(view_of(farm, [leaking])), "C072")
    assert "exports __cxa_throw" in message and "(and 1 more)" in message
    assert 'toolchain = "zig"' in message and "-fvisibility-inlines-hidden" in message
