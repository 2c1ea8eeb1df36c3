"""What an sdist installs, as import names: the recipe's test imports a draft names.

Read from the sdist's members alone (egg-info's top_level.txt, packages and modules at
the root, under src/ or maturin's python-source), and through namespaces (google,
opentelemetry), which import whether or not the project is installed.
"""

from __future__ import annotations

import re
import tomllib

from builder.errors import CurationError

_NOT_IMPORTS = {
    "test",
    "tests",
    "testing",
    "doc",
    "docs",
    "example",
    "examples",
    "bench",
    "benchmarks",
    "benchmark",
    "tools",
    "scripts",
    "setup",
    "conftest",
    "noxfile",
    "tasks",
    "build",
    "dist",
    "ci",
    "fuzz",
    "fuzzing",
    "_build",
}


def guess_imports(name: str, members: dict[str, bytes | None]) -> tuple[str, ...]:
    """Top-level import names: egg-info's top_level.txt, else packages and modules found
    at the root or under src/ (never tests, docs, setup scripts)."""
    for rel, data in sorted(members.items()):
        if rel.endswith(".egg-info/top_level.txt") and rel.count("/") <= 2 and data:
            found = [n.strip() for n in data.decode().splitlines() if n.strip()]
            names = [n for n in found if not n.startswith("_") and n not in _NOT_IMPORTS]
            if names or found:
                return _prefer(name, names or found, members)
    module = _maturin(members).get("module-name")
    if isinstance(module, str) and all(p.isidentifier() for p in module.split(".")):
        # maturin names the extension (jiter; pydantic_core._pydantic_core): its package
        # first, and the compiled module itself, which proves the extension is there.
        top = module.split(".", 1)[0]
        return (top, module) if module != top else (top,)
    packages, modules = set(), set()
    sources = ("src", "python", _maturin_python_source(members))  # python/: maturin's usual
    for rel in members:
        parts = rel.split("/")
        if parts[0] in sources:
            parts = parts[1:]
        if len(parts) == 2 and parts[1] in ("__init__.py", "__init__.pyi"):
            packages.add(parts[0])
        elif len(parts) == 1 and parts[0].endswith((".py", ".pyi")):
            # A stub at the root (rpds.pyi) stands for a compiled module of that name.
            modules.add(parts[0].rsplit(".", 1)[0])
        elif len(parts) == 2 and parts[1].endswith(".py") and parts[0] not in packages:
            # A namespace package (ruamel/yaml/...) has no __init__.py at its root.
            pass

    def importable(names: set[str]) -> list[str]:
        return sorted(
            n
            for n in names
            if n.isidentifier() and not n.startswith("_") and n.lower() not in _NOT_IMPORTS
        )

    # Beside a package, root modules are build helpers (hatch_build.py, setup.py); a
    # tests/ package beside a single module (expandvars.py) is no package of its own.
    found = importable(packages) or importable(modules) or _namespaced(name, members)
    if not found:
        found = importable({d for d in _dirs_of_modules(members) if "/" not in d})
    if not found:
        raise CurationError(
            f"cannot tell what {name} installs (no top_level.txt, no package at the root)",
            fix="write test.imports by hand",
        )
    return _prefer(name, found, members)


def _maturin(members: dict[str, bytes | None]) -> dict[str, object]:
    """pyproject.toml's [tool.maturin], or nothing."""
    raw = members.get("pyproject.toml")
    try:
        table = tomllib.loads(raw.decode()) if raw else {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    found = table.get("tool", {}).get("maturin", {})
    return found if isinstance(found, dict) else {}


def _maturin_python_source(members: dict[str, bytes | None]) -> str:
    """maturin's `python-source` directory (orjson: pysrc), else "src"."""
    found = _maturin(members).get("python-source")
    return found.strip("/") if isinstance(found, str) and found.strip("/") else "src"


def _namespaced(name: str, members: dict[str, bytes | None]) -> list[str]:
    """A package in a namespace named like the project (poetry-core: poetry/core/,
    coherent.licensed: coherent/licensed/), at the root or under src/: its dotted name."""
    parts = re.split(r"[-_.]+", name.lower())
    if len(parts) < 2:
        return []
    path = "/".join(parts) + "/__init__.py"
    lowered = {rel.lower() for rel in members}
    return [".".join(parts)] if {path, f"src/{path}"} & lowered else []


def _prefer(name: str, found: list[str], members: dict[str, bytes | None]) -> tuple[str, ...]:
    """The import named like the project first (`_argon2_cffi_bindings` for
    argon2-cffi-bindings, google.cloud.storage for google-cloud-storage), then the
    public ones; at most three. A namespace (google, opentelemetry) imports even when
    nothing of the project is installed, so what is inside it is named instead."""
    found = [n for top in found for n in _inside_namespace(top.replace(".", "/"), members)]
    key = name.lower().replace("-", "_").replace(".", "_")

    def named(n: str) -> bool:
        flat = n.lower().replace(".", "_").lstrip("_")
        last = n.lower().rsplit(".", 1)[-1] if "." in n else flat
        return flat == key or last == key.split("_")[-1]

    ordered = [n for n in found if named(n)] + [
        n for n in sorted(found) if not named(n) and not n.rsplit(".", 1)[-1].startswith("_")
    ]
    return tuple(ordered[:3] or found[:1])


def _inside_namespace(path: str, members: dict[str, bytes | None]) -> list[str]:
    """`path` as a dotted name, or, when it is a namespace, the packages and modules
    in it (descending through nested namespaces: google/cloud/storage)."""
    if path.count("/") > 3 or not _is_namespace(path, members):
        return [path.replace("/", ".")]
    children: set[str] = set()
    for rel in members:
        rel = rel.removeprefix("src/")
        if not rel.startswith(path + "/"):
            continue
        rest = rel[len(path) + 1 :].split("/")
        if len(rest) == 1 and rest[0].endswith(".py") and rest[0] != "__init__.py":
            children.add(rest[0][:-3])
        elif len(rest) > 1 and any(r.endswith(".py") for r in rest[-1:]):
            children.add(rest[0])
    names = [
        n
        for child in sorted(children)
        if child.isidentifier() and child not in ("tests", "test")
        for n in _inside_namespace(f"{path}/{child}", members)
    ]
    return names or [path.replace("/", ".")]


def _is_namespace(path: str, members: dict[str, bytes | None]) -> bool:
    """A directory of modules without an __init__.py (PEP 420), or whose __init__.py
    only extends its path (pkgutil and pkg_resources namespaces)."""
    if path not in _dirs_of_modules(members):
        return False
    for rel in (f"{path}/__init__.py", f"src/{path}/__init__.py"):
        if rel in members:
            data = members[rel] or b""
            return b"extend_path" in data or b"declare_namespace" in data
    return True


def _dirs_of_modules(members: dict[str, bytes | None]) -> set[str]:
    """Every directory (without a leading src/) holding Python files at any depth."""
    dirs: set[str] = set()
    for rel in members:
        if rel.endswith(".py"):
            parts = rel.removeprefix("src/").split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return dirs


def stubs_test(imports: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """PEP 561 stub-only packages (`requests-stubs`) cannot be imported: the imports that
    remain, and a command that parses every stub file each of them installs instead."""
    stubs = tuple(n for n in imports if n.endswith("-stubs"))
    if not stubs:
        return imports, ()
    names = ", ".join(f'"{n}"' for n in stubs)  # inside the shell's single quotes
    command = (
        "python -c 'import ast, pathlib, sysconfig; "
        'p = pathlib.Path(sysconfig.get_paths()["purelib"]); '
        f"ds = [p / d for d in ({names},)]; "
        'fs = [f for d in ds for f in sorted(d.rglob("*.pyi"))]; '
        'assert all(any(d.rglob("*.pyi")) for d in ds), ds; '
        "[ast.parse(f.read_text()) for f in fs]'"
    )
    return tuple(n for n in imports if n not in stubs), (command,)
