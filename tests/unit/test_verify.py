"""The auditor's comparison: verdicts from a published manifest and a rebuild's records."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from builder.audit.verify import Verdict, compare

WHEEL = "demo-1.0-py3-none-any.whl"
# The toolchain of the rebuild, as its records name it.
HERE = {"cc": "cc (Debian 12.2.0-14+deb12u1) 12.2.0", "libc": "glibc 2.36", "ld": "GNU ld 2.40"}


def _wheel(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("demo/__init__.py", text)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _setup(tmp_path: Path, toolchain: dict[str, str]) -> tuple[Path, dict[str, Any], Path]:
    tree, store = tmp_path / "tree", tmp_path / "store"
    published = _wheel(tree / "demo" / WHEEL, "X = 1\n")
    rebuilt = _wheel(tmp_path / "rebuilt.whl", "X = 2\n")
    (store / "blobs").mkdir(parents=True)
    (tmp_path / "rebuilt.whl").rename(store / "blobs" / rebuilt)
    inputs = {"kind": "build", "interpreter": "3.12.1", "toolchain": toolchain}
    manifest = {"projects": {"demo": {"platforms": {"linux-x86_64-cp312": {
        "wheel": WHEEL, "sha256": published, "inputs": inputs}}}}}  # fmt: skip
    ours = {**inputs, "toolchain": HERE}
    record = {"project": "demo", "platform": "linux-x86_64-cp312", "wheel": WHEEL,
              "wheel_sha256": rebuilt, "inputs": ours}  # fmt: skip
    (store / "records").mkdir()
    (store / "records" / "r.json").write_text(json.dumps(record))
    return tree, manifest, store


def test_a_difference_on_the_same_toolchain_differs_with_a_diffoscope_report(
    tmp_path: Path,
) -> None:
    tree, manifest, store = _setup(tmp_path, dict(HERE))
    (row,) = compare(tree, manifest, store, {"linux-x86_64-cp312": None}, tmp_path / "report")
    assert row.verdict is Verdict.DIFFERS
    assert row.detail.startswith("---")  # the report's first lines, for the table
    text = (tmp_path / "report" / row.diff_text).read_text()
    assert "X = 1" in text and "X = 2" in text  # diffoscope went into the wheels
    assert (tmp_path / "report" / row.diff_html).is_file()


def test_a_difference_on_another_toolchain_names_both_fingerprints(tmp_path: Path) -> None:
    theirs = {**HERE, "cc": "cc (Debian 14.2.0) 14.2.0"}
    tree, manifest, store = _setup(tmp_path, theirs)
    (row,) = compare(tree, manifest, store, {"linux-x86_64-cp312": None}, tmp_path / "report")
    assert row.verdict is Verdict.TOOLCHAIN_DIFFERS
    assert "cc" in row.detail
    assert row.toolchains["published"]["cc"] == "cc (Debian 14.2.0) 14.2.0"
    assert row.toolchains["rebuilt"]["cc"] == HERE["cc"]


def test_a_platform_this_machine_cannot_build_is_said_so(tmp_path: Path) -> None:
    tree, manifest, store = _setup(tmp_path, dict(HERE))
    why = {"linux-x86_64-cp312": "needs a macos host"}
    (row,) = compare(tree, manifest, store, why, tmp_path / "report")
    assert row.verdict is Verdict.NOT_BUILDABLE and row.detail == "needs a macos host"


def test_a_manifest_that_is_not_json_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    import pytest

    from builder.errors import TamperedError
    from builder.tree.published import read_manifest

    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(TamperedError, match=r"manifest\.json is not a manifest") as raised:
        read_manifest(tmp_path)
    assert "root of an assembled tree" in raised.value.fix


def test_an_assembled_tree_is_explained_byte_for_byte_and_an_added_key_is_not(
    tmp_path: Path,
) -> None:
    from builder.audit.explain import unexplained
    from tests.unit.test_assemble import make_synthetic

    synthetic = make_synthetic(tmp_path / "a")
    tree = synthetic.assemble(tmp_path / "out").tree
    manifest = json.loads((tree / "manifest.json").read_text())
    assert unexplained(tree, manifest, synthetic.farm) == []
    # A key the farm never writes, in the farm's own compact form: the bytes the plan
    # gives from the same entries lack it.
    manifest["projects"]["demo-ext"]["note"] = "trust me"
    raw = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    (tree / "manifest.json").write_text(raw + "\n")
    assert unexplained(tree, manifest, synthetic.farm) == [
        "manifest.json: differs from what its verified wheels and sources give"
    ]


def test_verify_rebuilds_only_the_platforms_the_tree_has_wheels_for() -> None:
    from builder.audit.verify import published_platforms

    manifest = {"projects": {
        "six": {"platforms": {"linux-x86_64-cp312": {}, "linux-x86_64-cp313": {}}},
        "pyyaml": {"platforms": {"linux-x86_64-cp312": {}}},
    }}  # fmt: skip
    # Not every platform file the tree carries (aarch64 under qemu would be hours).
    assert published_platforms(manifest) == ["linux-x86_64-cp312", "linux-x86_64-cp313"]
