"""The auditor's command against real builds: reproduced, tampered, non-reproducible."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from builder.cli import main
from tests.fixtures.published import Published, assemble
from tests.integration.farmcopy import NATIVE, make_farm, make_sdist, recipe_head

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _verify(source: Path, out: Path) -> int:
    return main(["verify", str(source), "--out", str(out)])


def test_a_published_tree_verifies_with_the_checkout_gone(
    published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(published.tree, tree)
    assert _verify(tree, tmp_path / "report") == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    verdicts = {(r["project"], r["platform"]): r["verdict"] for r in report["rows"]}
    assert verdicts == {("six", NATIVE): "reproduced", ("markupsafe", NATIVE): "reproduced"}
    assert "2 of 2 pairs rebuilt here reproduced" in out
    page = (tmp_path / "report" / "index.html").read_text()
    assert "markupsafe" in page and "reproduced" in page


@pytest.mark.parametrize(
    "target",
    ["wheel", "sdist", "recipe"],
)
def test_one_changed_byte_fails_verification_naming_the_file(
    published: Published, tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(published.tree, tree)
    if target == "wheel":
        victim = next((tree / "markupsafe").glob("*.whl"))
    elif target == "sdist":
        victim = next((tree / "_sources" / "markupsafe").glob("*.tar.gz"))
    else:
        victim = tree / "_sources" / "six" / "six.toml"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    assert _verify(tree, tmp_path / "report") == 4  # ExitCode.INTEGRITY
    err = capsys.readouterr().err
    assert str(victim.relative_to(tree)) in err
    assert "do not match its manifest" in err


UNREPRODUCIBLE_SETUP = """
import os, time
from setuptools import setup
os.makedirs("stamp", exist_ok=True)
with open("stamp/__init__.py", "w") as f:
    f.write(f"BUILT_AT_NS = {time.time_ns()}\\n")
setup(name="stamp", version="1.0", packages=["stamp"])
"""


def test_a_build_that_embeds_the_time_is_caught_with_a_diffoscope_report(
    tmp_path: Path, sdist_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = make_farm(tmp_path / "farm", [], cache=sdist_cache)
    url, sha = make_sdist(sdist_cache, "stamp", "1.0", {
        "setup.py": UNREPRODUCIBLE_SETUP,
        "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
                          'build-backend = "setuptools.build_meta"\n',
    })  # fmt: skip
    farm.write_recipe(
        "stamp",
        recipe_head("stamp", url, sha)
        + """
[build]
pure = true
[test]
imports = ["stamp"]
""",
    )
    assert farm.build("--platform", NATIVE) == 0
    assemble(farm, tmp_path / "public")
    tree = tmp_path / "public" / "tree"
    assert _verify(tree, tmp_path / "report") == 1
    out = capsys.readouterr().out
    assert "differs" in out
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    (row,) = report["rows"]
    assert row["verdict"] == "differs"
    diff = (tmp_path / "report" / row["diff_text"]).read_text()
    assert "stamp/__init__.py" in diff and "BUILT_AT_NS" in diff
    assert (tmp_path / "report" / row["diff_html"]).is_file()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("page", "markupsafe/index.html"),
        ("metadata", ".whl.metadata"),
        ("extra", "six/six-9.9.9-py3-none-any.whl"),
        ("platform page", "_platforms/linux-x86_64-cp312/index.html"),
    ],
)
def test_every_byte_pip_reads_is_verified(
    published: Published, tmp_path: Path, change: str, named: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    tree = tmp_path / "tree"
    shutil.copytree(published.tree, tree)
    if change == "page":
        page = tree / "markupsafe" / "index.html"
        text = page.read_text()
        sha = text.split("#sha256=", 1)[1][:64]
        page.write_text(text.replace(sha, "0" * 64))  # a changed #sha256= pip would trust
    elif change == "metadata":
        (meta,) = (tree / "six").glob("*.whl.metadata")
        meta.write_bytes(meta.read_bytes() + b"Requires-Dist: evil\n")
    elif change == "extra":
        (tree / "six" / "six-9.9.9-py3-none-any.whl").write_bytes(b"not in the manifest")
    else:
        page = tree / "_platforms" / "linux-x86_64-cp312" / "index.html"
        page.write_text(page.read_text().replace("six", "sux", 1))
    assert _verify(tree, tmp_path / "report") == 4  # ExitCode.INTEGRITY
    err = capsys.readouterr().err
    assert named in err and "not what its wheels and sources give" in err
