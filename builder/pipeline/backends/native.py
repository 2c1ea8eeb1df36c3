"""The native backend: this machine's interpreters, pypa/build in a locked venv, auditwheel.

A wheel's bytes depend on what `shaping` and `toolchain` report, and on nothing else
of this module: they are the job's inputs, so a refactor here keeps every cached build
while a changed flag or tool rebuilds exactly the jobs it touches.
"""

from __future__ import annotations

import os
import platform as host
import shutil
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from packaging.utils import parse_wheel_filename

from builder.errors import BuildError, InterpreterNotFound
from builder.model.library import Library
from builder.model.platform import OS, BackendName, Platform, ToolchainName
from builder.model.recipe import Recipe
from builder.pipeline import build, emulation, libraries, repair, rooted, rust, toolchain, wheelkind
from builder.pipeline import sandbox as sandbox_
from builder.pipeline.fetch import unpack
from builder.pipeline.interpreters import Interpreter, find_interpreter
from builder.pipeline.libraries import library_hash
from builder.pipeline.sandbox import Sandbox
from builder.pipeline.store import Store
from builder.pipeline.tasks import BuildTask, Settings, TestTask


def tool_env(settings: Settings) -> dict[str, str]:
    """The environment of the farm's own tools (uv, patch): never the backend's.

    uv itself needs the network and its cache; the backend it sets up never gets them.
    """
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(Path.home()),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_CONFIG": "1",
        "LANG": "C.UTF-8",
    }
    passed = ("UV_CACHE_DIR", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "SSL_CERT_FILE", "SSL_CERT_DIR")
    for key in passed:
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _first_line(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "absent"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "absent"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "absent"


@cache
def _host_toolchain() -> dict[str, str]:
    libc = host.libc_ver()
    return {
        "cc": _first_line(["cc", "--version"]),
        "libc": f"glibc {libc[1]}" if libc[0] == "glibc" else " ".join(libc),
        "ld": _first_line(["ld", "--version"]),
        "machine": host.machine(),
    }


class NativeBackend:
    name = BackendName.NATIVE
    host_packages = True
    installs_set_wheels = True

    def why_not_buildable(self, platform: Platform) -> str | None:
        if platform.os is not OS.LINUX or host.system() != "Linux":
            return f"needs a {platform.os} host"
        if platform.arch != host.machine():
            if not platform.root:
                return f"needs an {platform.arch} host (this is {host.machine()}) or a root"
            if emulation.emulator(platform.arch) is None:
                return emulation.why_not(platform.arch)
        if platform.root:
            if sandbox_.bubblewrap() is None:
                return f"its interpreter runs on roots/{platform.root}.toml, in bubblewrap"
            return None
        if platform.implementation != "cpython":
            return "only CPython is built natively"
        if find_interpreter(platform.python_version) is None:
            return f"no CPython {platform.python_version} found (pyenv, uv or PATH)"
        return None

    def interpreter(self, platform: Platform) -> dict[str, str]:
        if platform.root:
            return rooted.describe(platform)
        found = _interpreter(platform)
        return {"version": found.version, "build": found.build}

    def toolchain(
        self, recipe: Recipe, platform: Platform, libraries: Mapping[str, Library]
    ) -> dict[str, str]:
        """What compiles and links: nothing for a pure recipe but the build tools it
        names. On a zig platform, the pinned zig and every native library by its input
        hash."""
        tools = {
            k: v for name in recipe.tools for k, v in toolchain.pinned_tool(name).describe().items()
        }
        if recipe.pure:
            return tools
        if platform.toolchain is ToolchainName.ZIG:
            zig, target = toolchain.pinned_zig(), toolchain.target(platform)
            found = zig.describe(target)
            if platform.root:
                # Builds on a root see its interpreter's headers and no other of its own.
                found["root-headers"] = "python"
            for name in recipe.libraries:
                found[f"library {name}"] = library_hash(libraries, name, zig, target)
            if recipe.rust:
                found |= rust.pinned_rust(platform.arch).describe()
            return found | tools
        return dict(_host_toolchain()) | tools

    def shaping(self, recipe: Recipe, platform: Platform) -> dict[str, Any]:
        """How this backend turns a source tree into a wheel, by meaning: the frontend's
        command, the environment the backend sees (job paths as placeholders: the build
        root is an input of its own) and the repair step."""
        placeholder = Path("$JOB")
        compiled = not recipe.pure and platform.toolchain is ToolchainName.ZIG
        env = build.backend_env(
            recipe,
            venv=placeholder / "env",
            source=placeholder / "sdist",
            home=placeholder / "home",
            source_date_epoch=0,
            compilers=_with_tools(
                _toolchain_env(recipe, platform, placeholder / "toolchain", Path("$RUST"))
                if compiled
                else None,
                recipe,
                placeholder / "tools",
            ),
        ).as_dict()
        env.pop("SOURCE_DATE_EPOCH")  # an input of its own
        shaping: dict[str, Any] = {
            "frontend": build.frontend_argv(recipe),
            "environment": env,
            "repair": _repair_step(recipe, platform),
        }
        if compiled:  # the zig binary is named by its wheel's hash in `toolchain`
            shaping["wrappers"] = toolchain.wrapper_scripts("$ZIG", toolchain.target(platform))
        if compiled and recipe.rust:
            shaping["cargo-config"] = rust.cargo_config(placeholder / "cargo-vendor")
            shaping["cargo-wrappers"] = rust.wrapper_scripts("$ZIG", toolchain.target(platform))
            shaping["sbom-paths"] = _sbom_paths(placeholder)
        return shaping

    def build(self, task: BuildTask, directory: Path, log: Path) -> Path:
        """Build and repair; return the repaired wheel."""
        job, settings = task.job, task.settings
        if job.platform.root:
            _refuse_tools_the_root_cannot_run(job.recipe, job.platform, settings.cache)
        source = unpack(job.recipe, task.sdist, directory / "sdist")
        env_of_tools = tool_env(settings)
        build.apply_patches(job.recipe.patches, source, log=log, env=env_of_tools)
        venv = directory / "env"
        depends = Store(root=settings.store, run=settings.run).copy_out(
            task.depends_wheels, directory / "depends"
        )
        python = _python(job.platform)
        confined = _sandbox(settings, directory, python, job.platform)
        if job.platform.root:
            pins = directory / "env-requirements.txt"
            pins.write_text("".join(pin.line() + "\n" for pin in task.pins))
            wheels = [str(path) for path, _sha in depends]
            rooted.make_venv(
                platform=job.platform, uv=settings.uv, venv=venv, sandbox=confined,
                requirements=[["--require-hashes", "--no-deps", "-r", str(pins)],
                              *([["--offline", "--no-index", "--no-deps", *wheels]] if wheels
                                else [])],
                log=log, tool_env=env_of_tools,
            )  # fmt: skip
        else:
            build.make_venv(
                uv=settings.uv, python=python, venv=venv, pins=list(task.pins),
                extra_wheels=[path for path, _sha in depends], log=log, tool_env=env_of_tools,
            )  # fmt: skip
        home = directory / "home"
        home.mkdir()
        env = build.backend_env(
            job.recipe, venv=venv, source=source, home=home,
            source_date_epoch=task.source_date_epoch,
            compilers=_with_tools(_compilers(task, directory / "toolchain", source, log),
                                  job.recipe, directory / "tools", cache=settings.cache),
        )  # fmt: skip
        wheel = build.run_backend(
            job.recipe,
            venv=venv,
            source=source,
            outdir=directory / "dist",
            env=env,
            log=log,
            isolate_network=task.isolate_network,
            sandbox=confined,
        )
        wheelkind.refuse_a_mislabelled_wheel(job, wheel, log)
        if job.recipe.rust and job.platform.toolchain is ToolchainName.ZIG:
            wheel = rust.remap_sboms(wheel, directory / "remapped", _sbom_paths(directory))
        (directory / "repaired").mkdir()
        if not job.recipe.expects_extension(job.platform.implementation) and not (
            job.recipe.pure or repair.has_compiled_code(wheel)
        ):  # pure-on-pypy, on PyPy (a pure wheel, or one tagged for an extension it skipped)
            return repair.retag(wheel, _pypy_tag(job.platform), directory / "repaired")
        repaired = repair.repair_wheel(
            wheel,
            platform=job.platform,
            out_dir=directory / "repaired",
            log=log,
            source_date_epoch=task.source_date_epoch,
        )
        # setuptools-rust tags a program's wheel for the interpreter that built it;
        # scikit-build-core's wheel.py-api = "py3" and maturin's bin bindings do not.
        if job.recipe.program:
            tag = repair.program_tag(repaired)
            if not repaired.name.endswith(f"-{tag}.whl"):
                return repair.retag(repaired, tag, directory / "program")
        return repaired

    def test(self, task: TestTask, directory: Path, log: Path) -> tuple[str, ...]:
        """Install exactly the built wheel and its closure into a clean venv; run the
        recipe's checks. Returns what ran."""
        job, settings = task.job, task.settings
        # Exactly these bytes, by path and sha256: never a wheel found by name and
        # version, which could be one an earlier build left in some cache.
        wheels = Store(root=settings.store, run=settings.run).copy_out(
            ((task.wheel, task.wheel_sha256), *task.closure), directory / "wheels"
        )
        requirements = directory / "requirements.txt"
        requirements.write_text(
            "".join(
                f"{parse_wheel_filename(path.name)[0]} @ {path.as_uri()} --hash=sha256:{sha}\n"
                for path, sha in wheels
            )
        )
        venv = directory / "env"
        env_of_tools = tool_env(settings)
        python = _python(job.platform)
        confined = _sandbox(settings, directory, python, job.platform)
        # No index and a cache of the job's own (empty): every dependency must be one of
        # the closure's wheels. Not --no-cache: uv would keep its interpreter query in a
        # private temporary directory the sandboxed interpreter of a root cannot read.
        from_the_set = ["--no-index", "--cache-dir", str(directory / "uv-cache"),
                        "--require-hashes", "-r", str(requirements)]  # fmt: skip
        if job.platform.root:
            rooted.make_venv(
                platform=job.platform, uv=settings.uv, venv=venv, sandbox=confined,
                requirements=[from_the_set], log=log, tool_env=env_of_tools,
            )  # fmt: skip
        else:
            build.make_venv(
                uv=settings.uv, python=python, venv=venv, pins=[], extra_wheels=[], log=log,
                tool_env=env_of_tools,
            )  # fmt: skip
            build.uv_install(
                settings.uv, venv, from_the_set, log=log, env=env_of_tools,
                what=f"installing {task.wheel} with its dependencies from the set",
            )  # fmt: skip
        cwd = directory / "cwd"  # empty: imports must come from the installed wheel
        cwd.mkdir()
        env = {
            "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(cwd),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        checks = [
            [str(venv / "bin" / "python"), "-c", f"import {module}"]
            for module in job.recipe.imports_on(job.platform.implementation)
        ]
        checks += [list(argv) for argv in job.recipe.test_commands]
        ran = []
        for argv in checks:
            if confined is not None:
                argv = confined.wrap(argv, cwd=cwd)
            elif task.isolate_network:
                argv = ["unshare", "-n", "--", *argv]
            build.run_logged(
                argv, log=log, env=env, cwd=cwd, timeout=300, what=f"test `{' '.join(argv[-2:])}`"
            )
            ran.append(" ".join(argv[-1:] if argv[-2] == "-c" else argv))
        return tuple(ran)


def _sbom_paths(job: Path) -> dict[str, str]:
    """What a Rust wheel's SBOMs name of the job, and what they name instead: the same
    prefixes rustc's remapping gives the code."""
    return {str(job / "sdist"): "/src", str(job): "/job"}


def _repair_step(recipe: Recipe, platform: Platform) -> dict[str, object]:
    if recipe.pure:
        return {}
    if not recipe.expects_extension(platform.implementation):
        return {"retag": _pypy_tag(platform)}
    return repair.describe(platform)


def _pypy_tag(platform: Platform) -> str:
    """The tag of a pure-on-pypy wheel: its platform's full tag. Not `pp311-none-any`,
    which pip takes but uv 0.13 does not count among PyPy's tags."""
    return f"{platform.interpreter}-{platform.abi}-{platform.policy}"


def _python(platform: Platform) -> Path:
    """The job's interpreter, as the job sees it."""
    return rooted.python(platform) if platform.root else _interpreter(platform).path


def _sandbox(
    settings: Settings, directory: Path, python: Path, platform: Platform
) -> Sandbox | None:
    """The job's sandbox (None when the run has none): its directory writable; the
    interpreter and the download cache (the pinned toolchain lives there) readable. On
    a rooted platform, the root is the system and holds the interpreter."""
    if settings.sandbox == sandbox_.NONE:
        return None
    if platform.root:
        zig = platform.toolchain is ToolchainName.ZIG
        return rooted.sandbox(platform, directory, settings.cache, python_headers_only=zig)
    # With the pinned toolchain, the host's headers are not there to be found: a build
    # that looks in /usr/include for an optional library finds nothing.
    return Sandbox(writable=directory, readable=sandbox_.readable([python], settings.cache),
                   hide_host_headers=platform.toolchain is ToolchainName.ZIG)  # fmt: skip


def _compilers(task: BuildTask, directory: Path, source: Path, log: Path) -> dict[str, str] | None:
    """The pinned toolchain's wrappers for a compiled job on a zig platform, else None;
    for a Rust recipe also the pinned Rust and the crates of the sdist's Cargo.lock."""
    job = task.job
    if job.recipe.pure or job.platform.toolchain is not ToolchainName.ZIG:
        return None
    zig = toolchain.pinned_zig()
    binary = toolchain.install(zig, task.settings.cache)
    target = toolchain.target(job.platform)
    scripts = toolchain.wrapper_scripts(str(binary), target)
    rust_home = Path("$RUST")
    if job.recipe.rust:
        pinned = rust.pinned_rust(job.platform.arch)
        rust.require_rust_version(source, pinned.version, project=job.recipe.name)
        rust_home = rust.install(pinned, task.settings.cache)
        scripts |= toolchain.build_machine_script(str(binary), host.machine())
        scripts |= rust.wrapper_scripts(str(binary), target)
        vendored = directory.parent / "cargo-vendor"
        rust.vendor(rust.locked_crates(source), task.settings.cache, vendored)
        (directory.parent / "cargo-home").mkdir()
        (directory.parent / "cargo-home" / "config.toml").write_text(rust.cargo_config(vendored))
    toolchain.write_wrappers(directory, scripts)
    found = _toolchain_env(job.recipe, job.platform, directory, rust_home)
    if job.platform.root:
        rooted.link_headers(job.platform, directory)
    if task.libraries:
        provided = libraries.provide(
            list(task.libraries),
            tools=libraries.Tools(zig=zig, zig_binary=binary, target=target),
            cache=task.settings.cache, store=task.settings.store, sysroot=directory / "sysroot",
            log=log, sandboxed=task.settings.sandbox != sandbox_.NONE, timeout=job.recipe.timeout,
        )  # fmt: skip
        for key, value in provided.items():
            joint = ":" if key == "PATH" else " "
            found[key] = f"{found[key]}{joint}{value}" if key in found else value
    else:
        # pkg-config's default search is the host's .pc files: meson's Cython check
        # took Debian's python3.pc (and its /usr/include/python3.11) for pandas.
        found |= {"PKG_CONFIG_PATH": "", "PKG_CONFIG_LIBDIR": ""}
    return found


def _with_tools(
    found: dict[str, str] | None, recipe: Recipe, directory: Path, *, cache: Path | None = None
) -> dict[str, str] | None:
    """`found` with the recipe's pinned build tools on PATH, linked into `directory`
    (with a cache: fetched and linked; without: the same environment, for the inputs)."""
    if not recipe.tools:
        return found
    bin_dir = directory / "bin"
    if cache is not None:
        bin_dir.mkdir(parents=True)
        for name in recipe.tools:
            binary = toolchain.install_tool(toolchain.pinned_tool(name), cache)
            (bin_dir / name).symlink_to(binary)
    found = dict(found or {})
    found["PATH"] = f"{bin_dir}:{found['PATH']}" if "PATH" in found else str(bin_dir)
    return found


def _refuse_tools_the_root_cannot_run(recipe: Recipe, platform: Platform, cache: Path) -> None:
    """Before anything runs: a pinned tool that cannot start on the platform's root
    would fail deep in the backend's build with a loader's message."""
    system = rooted.home(platform, cache)
    for i, name in enumerate(recipe.tools):
        binary = toolchain.install_tool(toolchain.pinned_tool(name), cache)
        missing = rooted.unmet_needs(platform, system, binary)
        if missing:
            raise BuildError(
                f"{recipe.path}: build.tools[{i}]: the pinned {name} cannot start on "
                f"roots/{platform.root}.toml, which lacks {', '.join(missing)}",
                fix=f"take {name} from the set (a recipe with program = true, named in "
                "build.requires), or add the package that ships what it lacks to the root "
                f"(ipwhl root-lock {platform.root} ...)",
            )


def _toolchain_env(
    recipe: Recipe, platform: Platform, directory: Path, rust_home: Path
) -> dict[str, str]:
    """The wrappers' environment, on a rooted platform the way to its headers, for a
    Rust recipe cargo's (the same for a job's inputs, with placeholder directories, as
    for the job itself)."""
    found = toolchain.compiler_env(directory)
    if platform.root:
        found |= rooted.compiler_flags(platform, directory)
    if recipe.rust:
        bin_dir = directory / "bin"
        found |= rust.cargo_env(
            rust_home, directory.parent, target=rust.triple(platform.arch),
            linker=bin_dir / "cargo-cc", build_linker=bin_dir / "zig-build-cc",
            source=directory.parent / "sdist",
        )  # fmt: skip
        # A -sys crate looks for its library at <NAME>_DIR (openssl-sys: OPENSSL_DIR)
        # before pkg-config, which would take the job's sysroot for the system's and
        # link dynamically what is there only as a static archive.
        for name in recipe.libraries:
            prefix = directory / "sysroot" / libraries.PREFIX.lstrip("/") / name
            found[f"{name.upper().replace('-', '_')}_DIR"] = str(prefix)
    return found


def _interpreter(platform: Platform) -> Interpreter:
    found = find_interpreter(platform.python_version)
    if found is None:
        raise InterpreterNotFound(
            f"no CPython {platform.python_version} for {platform.id}",
            fix=f"install CPython {platform.python_version} (pyenv install, or uv python install)",
        )
    return found
