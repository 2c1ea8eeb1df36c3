"""The one error tree: every error class lives in errors.py, with a documented exit code."""

from __future__ import annotations

import ast
from pathlib import Path

from builder import errors
from builder.errors import ExitCode, IpwhlError

REPO = Path(__file__).resolve().parents[2]


def test_no_error_class_is_defined_outside_the_error_tree() -> None:
    outside = []
    for path in (REPO / "builder").rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and (b.id.endswith("Error") or b.id == "Exception")
                for b in node.bases
            ):
                outside.append(f"{path.relative_to(REPO)}: {node.name}")
    assert outside == []


def test_every_error_has_an_exit_code_the_readme_documents() -> None:
    classes = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, IpwhlError)
    ]
    assert len(classes) > 20
    assert all(isinstance(c.exit_code, ExitCode) for c in classes)
    readme = (REPO / "README.md").read_text()
    for code in ExitCode:
        assert f"| {code.value} |" in readme, f"README lacks exit code {code.value}"


def test_an_error_keeps_its_exit_code_across_processes() -> None:
    import pickle

    error = errors.StoreError("damaged", fix="rebuild")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is errors.StoreError and copy.exit_code is ExitCode.INTEGRITY
    assert copy.fix == "rebuild"


def test_the_command_line_exits_with_the_errors_own_code(tmp_path: Path) -> None:
    from builder.cli import main

    (tmp_path / "manifest.json").write_text("{not json")
    assert main(["verify", str(tmp_path), "--out", str(tmp_path / "out")]) == 4
