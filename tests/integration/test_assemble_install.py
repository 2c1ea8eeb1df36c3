"""The assembled tree is a pip index before IPFS is involved: real wheels, real pip, real uv.

One build of a small subset (pure, C extension, grafted library) is assembled once;
each installer then installs all three from the tree, and from one platform subtree,
into a fresh venv of the real CPython 3.12, and imports them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from builder.model.farm import load_farm
from builder.pipeline.collection import current
from builder.pipeline.interpreters import find_interpreter
from builder.pipeline.store import Store
from builder.tree.assemble import Assembly, assemble
from tests.integration.farmcopy import NATIVE, make_farm

pytestmark = [pytest.mark.network, pytest.mark.slow]

SUBSET = ["six", "markupsafe", "pyyaml"]
CHECK = (
    "import six, markupsafe, yaml; "
    "assert yaml.__with_libyaml__, 'the C extension did not load'; "
    "assert str(markupsafe.escape('<&>')) == '&lt;&amp;&gt;'; "
    "print(six.__version__, markupsafe.__version__, yaml.__version__)"
)


@pytest.fixture(scope="module")
def assembled(tmp_path_factory: pytest.TempPathFactory, sdist_cache: Path) -> Assembly:
    base = tmp_path_factory.mktemp("assemble")
    farm = make_farm(base, SUBSET, cache=sdist_cache)
    assert farm.build("--platform", NATIVE) == 0
    loaded, store = load_farm(farm.root), Store(root=farm.store)
    return assemble(
        loaded, store, current(loaded, store), out=base / "public", sdist_cache=sdist_cache
    )


def python312() -> Path:
    interpreter = find_interpreter("3.12")
    if interpreter is None:
        pytest.skip("no CPython 3.12 on this machine (pyenv, uv or PATH)")
    return interpreter.path


def fresh_venv(path: Path) -> Path:
    subprocess.run([str(python312()), "-m", "venv", str(path)], check=True, timeout=300)
    return path / "bin" / "python"


def run(*argv: str | Path) -> str:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def installed(python: Path) -> dict[str, str]:
    out = run(python, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check")
    return dict(line.split("==") for line in out.split() if "==" in line)


INDEXES = ["", f"_platforms/{NATIVE}/"]


@pytest.mark.parametrize("subtree", INDEXES, ids=["root", "platform"])
def test_pip_installs_from_the_tree(assembled: Assembly, tmp_path: Path, subtree: str) -> None:
    python = fresh_venv(tmp_path / "venv")
    index = (assembled.tree / subtree).as_uri().rstrip("/") + "/"
    out = run(
        python, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
        "--only-binary", ":all:", "--index-url", index, *SUBSET,
    )  # fmt: skip
    assert "pyyaml" in out.lower()
    versions = installed(python)
    assert {"six", "MarkupSafe", "PyYAML"} <= set(versions), versions
    run(python, "-c", CHECK)


@pytest.mark.parametrize("subtree", INDEXES, ids=["root", "platform"])
def test_uv_installs_from_the_tree(assembled: Assembly, tmp_path: Path, subtree: str) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is a dependency of the builder and must be on PATH")
    python = fresh_venv(tmp_path / "venv")
    index = (assembled.tree / subtree).as_uri().rstrip("/") + "/"
    run(
        uv, "pip", "install", "--python", python, "--no-cache", "--only-binary", ":all:",
        "--index-url", index, *SUBSET,
    )  # fmt: skip
    run(python, "-c", CHECK)


def test_tree_holds_what_rebuilding_needs(assembled: Assembly) -> None:
    tree = assembled.tree
    for project in SUBSET:
        sources = tree / "_sources" / project
        assert (sources / f"{project}.toml").is_file()
        assert [p for p in sources.iterdir() if p.name.endswith((".tar.gz", ".zip"))]
        wheels = list((tree / "_platforms" / NATIVE / project).glob("*.whl"))
        assert len(wheels) == 1
    assert assembled.car is not None and assembled.car.stat().st_size > 0
