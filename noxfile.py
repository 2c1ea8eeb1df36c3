"""Sessions of the IPWHL build farm. `nox -s build` is the main job; `nox -s tests` tests it."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["build"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
PYTHON = "3.11"
CACHE = Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl"))


def _install(session: nox.Session, *extras: str) -> None:
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build every recipe for every platform this machine can build; print a table."""
    _install(session)
    # Debian packages the host toolchain's builds need (none while every Linux platform
    # compiles with zig): installed when root, else the error says which apt-get to run.
    session.run("ipwhl", "system-packages", "--install")
    session.run("ipwhl", "build", *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """All three tiers: unit, integration (real builds, pip, uv) and oracle (kubo)."""
    _install(session, "test")
    # What the tests run for real: the recipes' Debian packages (when root) and the
    # pinned kubo for the oracle tier (built once, cached outside the checkout).
    session.run("ipwhl", "system-packages", "--install")
    session.run("bash", str(ROOT / "tools" / "kubo.sh"), external=True)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff and mypy --strict over the builder and its tools."""
    _install(session, "lint")
    session.run("ruff", "check", "builder", "tools", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "builder", "tools")
    session.run("mypy")


@nox.session(python=PYTHON)
def lock(session: nox.Session) -> None:
    """Refresh locks/<recipe>/: each recipe's build requirements, pinned with hashes per
    interpreter (`nox -s lock -- NAME ...` for some recipes)."""
    _install(session)
    session.run("ipwhl", "build-lock", *session.posargs)


@nox.session(python=PYTHON)
def kubo(session: nox.Session) -> None:
    """Build the pinned kubo from the Go module proxy into the cache (once)."""
    session.run("bash", str(ROOT / "tools" / "kubo.sh"), external=True)


@nox.session(python=PYTHON)
def reproduce(session: nox.Session) -> None:
    """Build the whole set twice, from empty stores, in two checkout paths; compare."""
    _install(session)
    session.run("python", str(ROOT / "tools" / "reproduce.py"), *session.posargs)


@nox.session(python=PYTHON)
def reproduce_elsewhere(session: nox.Session) -> None:
    """Build a subset here and in a Debian 13 chroot (debootstrap, as root); compare."""
    _install(session)
    session.run("python", str(ROOT / "tools" / "elsewhere.py"), *session.posargs)


@nox.session(python=PYTHON)
def bootstrap(session: nox.Session) -> None:
    """The set's build backends built with PyPI's wheels and with the set's own, from
    empty stores; every wheel compared (the bootstrap's fixed point)."""
    _install(session)
    session.run("python", str(ROOT / "tools" / "bootstrap.py"), *session.posargs)


@nox.session(python=PYTHON)
def older_glibc(session: nox.Session) -> None:
    """Install and test every project of the store's set on Debian 11 (glibc 2.31), in a
    debootstrap chroot with a CPython built there (as root)."""
    _install(session)
    session.run("python", str(ROOT / "tools" / "older_glibc.py"), *session.posargs)


@nox.session(python=PYTHON)
def bench_toolchain(session: nox.Session) -> None:
    """The whole set built with the pinned zig and with the host's gcc; per-job ratios."""
    _install(session)
    session.run("python", str(ROOT / "tools" / "bench_toolchain.py"), *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Scheduling efficiency on all cores and per-job overhead over a bare `python -m build`."""
    _install(session)
    session.run("python", str(ROOT / "tools" / "bench.py"), *session.posargs)


@nox.session(python=PYTHON)
def bench_full(session: nox.Session) -> None:
    """The whole set built cold on all cores, longest chains first; its wall time against
    the sum of job times and the longest chain, the longest jobs; `-- --compare` also
    builds it in name order (the peer), `-- --projects A B` a subset."""
    _install(session)
    session.run("ipwhl", "system-packages", "--install")
    session.run("python", str(ROOT / "tools" / "bench_full.py"), *session.posargs)


@nox.session(python=PYTHON)
def times(session: nox.Session) -> None:
    """Rewrite builder/data/build-times.toml from a store after a full build:
    `nox -s times -- --store PATH`."""
    _install(session)
    session.run("ipwhl", "times", *session.posargs)


@nox.session(python=PYTHON)
def bench_incremental(session: nox.Session) -> None:
    """No-op of the full set and of 2,000 synthetic recipes; one changed recipe, seeded
    from a published tree vs an empty store: `nox -s bench_incremental -- --from CAR`."""
    _install(session)
    session.run("python", str(ROOT / "tools" / "bench_incremental.py"), *session.posargs)


@nox.session(python=PYTHON)
def bench_sandbox(session: nox.Session) -> None:
    """The sandbox's cost per job (bubblewrap vs --no-sandbox), and that the wheels match."""
    _install(session)
    session.run("python", str(ROOT / "tools" / "bench_sandbox.py"), *session.posargs)


@nox.session(python=PYTHON)
def assemble(session: nox.Session) -> None:
    """Lay out the published tree (public/tree), print its root CID, write its CAR."""
    _install(session)
    session.run("ipwhl", "assemble", *session.posargs)


@nox.session(python=PYTHON)
def bench_cid(session: nox.Session) -> None:
    """CID throughput vs kubo on >= 1 GiB, and re-assembly after one new wheel."""
    _install(session, "test")
    session.run("python", str(ROOT / "tools" / "bench_cid.py"), *session.posargs)


@nox.session(python=PYTHON)
def ci(session: nox.Session) -> None:
    """CI glue: `nox -s ci -- matrix|build|summary|publish ...` runs `ipwhl ci-<that>`,
    `nox -s ci -- seed SOURCE ...` runs `ipwhl seed`."""
    _install(session, "test")  # cibuildwheel is pinned in the test extra
    if not session.posargs:
        session.error("name a step: matrix, build GROUP, seed SOURCE, summary or publish")
    step, *rest = session.posargs
    # `seed` is the plain command; the others are the CI glue of `ipwhl ci-*`.
    session.run("ipwhl", step if step == "seed" else f"ci-{step}", *rest)


@nox.session(python=PYTHON)
def ci_dry_run(session: nox.Session) -> None:
    """The CI workflow graph on this machine, native backend for the matrix; same CID."""
    _install(session, "test")
    session.run("python", str(ROOT / "tools" / "ci_dry_run.py"), *session.posargs)


@nox.session(python=PYTHON)
def workflows_lint(session: nox.Session) -> None:
    """actionlint and zizmor (offline) over .github/workflows."""
    _install(session, "test")
    actionlint = session.run(
        "bash", str(ROOT / "tools" / "actionlint.sh"), external=True, silent=True
    )
    assert isinstance(actionlint, str)
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    session.run(actionlint.strip().splitlines()[-1], *workflows, external=True)
    session.run("zizmor", "--offline", str(ROOT / ".github" / "workflows"))


@nox.session(python=PYTHON)
def check(session: nox.Session) -> None:
    """The whole-set gates over recipes and the store's current wheels (CI: every change)."""
    _install(session)
    session.run("ipwhl", "check", *session.posargs)


@nox.session(python=PYTHON)
def bench_check(session: nox.Session) -> None:
    """`ipwhl check` timing on the full set, stage by stage (target: a few seconds)."""
    _install(session)
    session.run("python", str(ROOT / "tools" / "bench_check.py"), *session.posargs)


@nox.session(python=PYTHON)
def publish(session: nox.Session) -> None:
    """Import public/<cid>.car into a running IPFS node, pin it, print the install URL.

    Needs a running kubo daemon (`ipfs daemon`; its RPC API on 127.0.0.1:5001 by
    default). Arguments go to `ipwhl publish`, e.g. `-- --ipns-key ipwhl --api ...`.
    """
    _install(session)
    session.run("ipwhl", "publish", *session.posargs)


@nox.session(python=PYTHON)
def bench_install(session: nox.Session) -> None:
    """Install time through a kubo gateway vs `python -m http.server` on the same tree."""
    _install(session, "test")
    session.run("python", str(ROOT / "tools" / "bench_install.py"), *session.posargs)


@nox.session(python=PYTHON)
def verify(session: nox.Session) -> None:
    """The auditor: `nox -s verify -- CID|TREE|CAR [--gateway URL] [--out DIR]`."""
    _install(session)
    session.run("ipwhl", "verify", *session.posargs)
