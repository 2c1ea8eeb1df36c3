"""pylock.toml: the TOML writer, closure resolution per platform, the PEP 751 document."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.errors import PylockError, TamperedError
from builder.ipfs.gateway import Gateway
from builder.tomlwrite import dumps, toml_string
from builder.tree.pylock import (
    LocalTree,
    document,
    environment_marker,
    make_lock,
    parse_manifest,
    parse_requirements,
    platform_from_id,
    resolve,
)

CID = "bafybeidkcpcgprak2gynn2pzggltw7d7hno2shbv3huydw65qc22l24x5y"
LINUX = "linux-x86_64-cp312"
WIN = "windows-AMD64-cp39"


def wheel(name: str, version: str, tag: str = "py3-none-any") -> str:
    return f"{name.replace('-', '_')}-{version}-{tag}.whl"


# project -> (version, Requires-Dist lines, Requires-Python)
PROJECTS: dict[str, tuple[str, list[str], str | None]] = {
    "requests": (
        "2.32.5",
        [
            "charset_normalizer<4,>=2",
            "idna<4,>=2.5",
            "urllib3<3,>=1.21.1",
            "certifi>=2017.4.17",
            'PySocks!=1.5.7,>=1.5.6; extra == "socks"',
        ],
        ">=3.9",
    ),
    "charset-normalizer": ("3.5.3", [], ">=3.7"),
    "idna": ("3.20", [], ">=3.9"),
    "urllib3": ("2.6.3", ['brotli>=1.0.9; extra == "brotli"'], ">=3.9"),
    "certifi": ("2026.10.18", [], None),
    "click": ("8.3.0", ['colorama; platform_system == "Windows"'], ">=3.9"),
    "colorama": ("0.4.6", [], None),
    "pysocks": ("1.7.1", [], None),
    "tomli": ("2.3.0", [], ">=3.13"),
    "needs-new-idna": ("1.0", ["idna>=4"], None),
}


def make_tree(root: Path, platforms: tuple[str, ...] = (LINUX, WIN)) -> Path:
    manifest: dict[str, object] = {"profile": "unixfs-v1-2025", "platforms": list(platforms)}
    projects: dict[str, object] = {}
    for name, (version, requires, python) in PROJECTS.items():
        filename = wheel(name, version)
        lines = ["Metadata-Version: 2.4", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {r}" for r in requires]
        if python:
            lines.append(f"Requires-Python: {python}")
        (root / name).mkdir(parents=True)
        (root / name / f"{filename}.metadata").write_text("\n".join(lines) + "\n\nbody\n")
        projects[name] = {
            "version": version,
            "platforms": {
                p: {"wheel": filename, "sha256": f"{len(name):064x}", "size": len(name)}
                for p in platforms
                if name != "pysocks" or p == LINUX
            },
        }
    manifest["projects"] = projects
    manifest["missing"] = {"pysocks": {WIN: "not built from the current recipe"}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def closure(tree: Path, platform: str, *names: str) -> dict[str, str]:
    files = LocalTree(directory=tree)
    manifest = parse_manifest(files.read("manifest.json"))
    locked = resolve(manifest, platform_from_id(platform), parse_requirements(names), files.read)
    return {p.name: p.version for p in locked}


def test_closure_of_requests(tmp_path: Path) -> None:
    got = closure(make_tree(tmp_path), LINUX, "requests")
    assert set(got) == {"requests", "charset-normalizer", "idna", "urllib3", "certifi"}


def test_markers_are_evaluated_for_the_platform(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    assert set(closure(tree, LINUX, "click")) == {"click"}
    assert set(closure(tree, WIN, "click")) == {"click", "colorama"}


def test_extras_pull_their_dependencies(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    assert "pysocks" in closure(tree, LINUX, "requests[socks]")
    with pytest.raises(PylockError, match=r"pysocks .*not built from the current recipe"):
        closure(tree, WIN, "requests[socks]")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    with pytest.raises(PylockError) as e:
        closure(tree, LINUX, "needs-new-idna", "tomli", "nope", "urllib3[brotli]")
    text = str(e.value)
    assert "needs-new-idna wants idna>=4, the tree has idna 3.20" in text
    assert "tomli requires Python >=3.13" in text
    assert "nope (wanted by the command line)" in text
    assert "brotli (wanted by urllib3)" in text


def test_requested_version_must_match(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    assert closure(tree, LINUX, "idna==3.20") == {"idna": "3.20"}
    with pytest.raises(PylockError, match=r"the tree has idna 3\.20"):
        closure(tree, LINUX, "idna<3")


def test_platform_not_in_tree(tmp_path: Path) -> None:
    with pytest.raises(PylockError, match="no platform macos-arm64-cp312"):
        closure(make_tree(tmp_path), "macos-arm64-cp312", "idna")
    with pytest.raises(PylockError, match="not a platform id"):
        platform_from_id("linux_x86_64")


def test_environment_marker() -> None:
    assert environment_marker(platform_from_id(WIN)) == (
        "sys_platform == 'win32' and platform_machine == 'AMD64' and "
        "implementation_name == 'cpython' and python_version == '3.9'"
    )


def test_document_is_pep751_and_deterministic(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    gateway = Gateway.parse("http://127.0.0.1:8080")

    def lock_text() -> str:
        lock = make_lock(
            cid=CID, platform_id=LINUX, names=["requests", "click"],
            files=LocalTree(directory=tree), gateway=gateway,
        )  # fmt: skip
        return dumps(document(lock))

    text = lock_text()
    assert text == lock_text()
    data = tomllib.loads(text)
    assert data["lock-version"] == "1.0"
    assert data["created-by"] == "ipwhl"
    assert data["tool"]["ipwhl"] == {
        "cid": CID,
        "platform": LINUX,
        "requested": ["requests", "click"],
    }
    names = [p["name"] for p in data["packages"]]
    assert names == sorted(names)
    requests = next(p for p in data["packages"] if p["name"] == "requests")
    assert requests["dependencies"] == [
        {"name": n} for n in ["certifi", "charset-normalizer", "idna", "urllib3"]
    ]
    (w,) = requests["wheels"]
    assert w["url"] == f"http://127.0.0.1:8080/ipfs/{CID}/requests/{w['name']}"
    assert w["hashes"] == {"sha256": f"{len('requests'):064x}"}
    assert requests["index"] == f"http://127.0.0.1:8080/ipfs/{CID}/"
    assert "\n[tool]\n" not in text  # only [tool.ipwhl]


def test_bad_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"projects": 1}')
    with pytest.raises(TamperedError, match="not a manifest `ipwhl assemble` writes"):
        closure(tmp_path, LINUX, "idna")
    with pytest.raises(PylockError, match="cannot read"):
        closure(tmp_path / "nowhere", LINUX, "idna")


# --- the TOML writer --------------------------------------------------------------------

scalars = st.one_of(st.text(), st.integers(-(2**63), 2**63 - 1), st.booleans())
keys = st.text(min_size=1, max_size=12)
inline = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


@given(st.text())
def test_strings_round_trip(text: str) -> None:
    assert tomllib.loads(f"x = {toml_string(text)}\n")["x"] == text


@given(
    st.dictionaries(
        keys,
        st.one_of(
            inline,
            st.lists(st.dictionaries(keys, inline, max_size=4), min_size=1, max_size=3),
            st.dictionaries(keys, st.dictionaries(keys, inline, max_size=3), max_size=3),
        ),
        max_size=6,
    )
)
def test_documents_round_trip(doc: dict[str, object]) -> None:
    text = dumps(doc)  # type: ignore[arg-type]
    assert tomllib.loads(text) == doc, text
