"""The build root is this user's own: made 0700, refused when another could plant in it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.cli import main
from builder.errors import BuildRootError
from builder.pipeline import buildroot


def test_a_missing_build_root_is_made_private(tmp_path: Path) -> None:
    root = buildroot.private(tmp_path / "deep" / "root")
    assert root.is_dir() and root.stat().st_mode & 0o777 == 0o700


def test_a_planted_link_is_refused_and_followed_nowhere(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "root").symlink_to(elsewhere)
    with pytest.raises(BuildRootError, match="not a directory but a link") as caught:
        buildroot.private(tmp_path / "root")
    assert "--build-root" in caught.value.fix and list(elsewhere.iterdir()) == []


def test_a_build_root_writable_by_others_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root").chmod(0o777)
    with pytest.raises(BuildRootError, match="writable by others") as caught:
        buildroot.private(tmp_path / "root")
    assert "chmod go-w" in caught.value.fix


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root")
def test_another_users_build_root_is_refused_before_any_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    root.mkdir(mode=0o755)
    os.chown(root, 65534, 65534)  # as another local user would have made it first
    farm = Path(__file__).parents[2]
    code = main(["--root", str(farm), "build", "--build-root", str(root),
                 "--store", str(tmp_path / "store"), "six"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 5 and "belongs to uid 65534" in err and "--build-root DIR" in err
    assert list(root.iterdir()) == [] and not (tmp_path / "store").exists()
