"""The seed's promise, as a user lives it: real wheels, real kubo daemons, plain pip and uv.

A subset of the starter set (requests and its four dependencies, and the C extensions
markupsafe, pyyaml and msgpack) is built for CPython 3.12 (the pure platform) and every
other local interpreter of 3.11 and 3.13, assembled, and published with `ipwhl publish`
to kubo node A. A subset, because the whole set for every interpreter takes ~7 minutes
on two cores; the code paths are the same. Then, for each interpreter, a fresh venv:

- plain pip with only `--index-url` (pip's environment and config files neutralised:
  this machine sets PIP_FIND_LINKS=/opt/wheels), from the root and `_platforms/<id>/`;
  pip's debug log shows it fetched `.whl.metadata` and only the wheels it installed;
- the same with `uv pip install`, and `uv pip install -r pylock.toml` from `ipwhl lock`;
- mirroring: node B pins the CID from A, A stops, installs through B still work and
  every wheel B serves is byte-identical;
- tampering: one byte changed gives another CID, and pip and uv refuse the wheel
  against the old hashes; a damaged CAR is refused before anything is pinned;
- the seed's literal `http://localhost:8080/ipfs/$CID` works against a kubo whose
  `Gateway.PublicGateways` makes localhost a path gateway, and fails (by redirect to
  an unresolvable `<cid>.ipfs.localhost`) against the default config.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder.cli import main
from builder.errors import PublishError
from builder.ipfs.car import BlockStore, read_car, write_dag_car
from builder.ipfs.gateway import Gateway, probe_path_gateway
from builder.ipfs.publish import publish
from builder.ipfs.unixfs import Importer, cid_of_path, get_profile
from builder.model.farm import load_farm
from builder.model.platform import Platform
from builder.paths import uv_binary
from builder.pipeline import rooted
from builder.pipeline.collection import current
from builder.pipeline.interpreters import find_interpreter
from builder.pipeline.sandbox import Sandbox, bubblewrap
from builder.pipeline.store import Store
from builder.tree.assemble import Assembly, assemble
from tests.integration.farmcopy import NATIVE, make_farm
from tests.kubo import _LISTEN, KuboDaemon, KuboRepo, init_repo, running_daemon

pytestmark = [pytest.mark.kubo, pytest.mark.network, pytest.mark.slow]

SUBSET = [
    "requests", "urllib3", "idna", "certifi", "charset-normalizer",
    "markupsafe", "pyyaml", "msgpack",
]  # fmt: skip
INSTALL = ["requests", "markupsafe", "pyyaml", "msgpack"]
INTERPRETERS = ["3.12", "3.11", "3.13"]  # 3.12 first: it builds the pure wheels
# The interpreters this machine runs only on their pinned root, in the sandbox.
ROOTED = ["linux-x86_64-cp314", "linux-x86_64-cp315", "linux-x86_64-pp311"]
PIP = "pip==26.3"  # what a user of a root's interpreter would install first
CHECK = (
    "import sys, requests, markupsafe, yaml, msgpack, idna, urllib3, certifi, "
    "charset_normalizer; "
    "assert yaml.__with_libyaml__, 'the C extension of pyyaml did not load'; "
    # markupsafe and msgpack compile nothing on PyPy, by upstream's choice.
    "assert sys.implementation.name == 'pypy' or markupsafe._speedups, 'no C speedups'; "
    "assert msgpack.unpackb(msgpack.packb({'a': [1, 2]})) == {'a': [1, 2]}; "
    "assert str(markupsafe.escape('<&>')) == '&lt;&amp;&gt;'; "
    "assert requests.Request('GET', 'https://x.test', params={'a': 1}).prepare().url "
    "== 'https://x.test/?a=1'"
)


def platform_id(version: str) -> str:
    return f"linux-x86_64-cp{version.replace('.', '')}"


@dataclass(frozen=True, kw_only=True)
class Built:
    assembly: Assembly
    pythons: dict[str, Path]  # platform id -> interpreter
    rooted: dict[str, Platform]  # platform id -> a platform whose interpreter runs on a root
    cache: Path


@pytest.fixture(scope="module")
def kubo_bin() -> Path:
    from tests.kubo import require_kubo

    return require_kubo()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    cache = Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl"))
    base = tmp_path_factory.mktemp("publish")
    farm = make_farm(base, SUBSET, cache=cache)
    pythons: dict[str, Path] = {}
    for version in INTERPRETERS:
        interpreter = find_interpreter(version)
        if interpreter is None:
            assert version != "3.12", "CPython 3.12 builds the pure wheels; it must exist"
            continue
        pythons[platform_id(version)] = interpreter.path
        assert farm.build("--platform", platform_id(version)) == 0
    assert NATIVE in pythons and len(pythons) >= 2, f"need two interpreters, have {pythons}"
    loaded, store = load_farm(farm.root), Store(root=farm.store)
    rooted = {}
    if bubblewrap() is not None:
        assert farm.build(*(f"--platform={pid}" for pid in ROOTED)) == 0
        rooted = {pid: loaded.platforms[pid] for pid in ROOTED}
    assembly = assemble(
        loaded, store, current(loaded, store), out=base / "public",
        platforms=sorted([*pythons, *rooted]), sdist_cache=cache,
    )  # fmt: skip
    return Built(assembly=assembly, pythons=pythons, rooted=rooted, cache=cache)


@pytest.fixture(scope="module")
def node_a(kubo_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KuboDaemon]:
    with running_daemon(kubo_bin, tmp_path_factory.mktemp("node-a") / "repo") as daemon:
        yield daemon


@pytest.fixture(scope="module")
def cid(built: Built, node_a: KuboDaemon) -> str:
    """Published with the command a user runs; its output is checked too."""
    out = io.StringIO()
    car = built.assembly.car
    assert car is not None
    with contextlib.redirect_stdout(out):
        code = main(["publish", str(car), "--api", node_a.api_url, "--gateway", node_a.gateway_url])
    text = out.getvalue()
    assert code == 0, text
    root = str(built.assembly.root)
    assert f"published: {root}" in text
    index = f"{node_a.gateway_url}/ipfs/{root}/"
    assert f"pip config --site set global.index-url {index}\n" in text
    assert "localhost" not in text
    pins = node_a.rpc("pin/ls", arg=root, type="recursive")
    assert isinstance(pins, dict) and pins["Keys"][root]["Type"] == "recursive"
    return root


# --- installers, with this machine's pip settings out of the way -------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """No PIP_*/UV_* from the machine (PIP_FIND_LINKS=/opt/wheels here), no config files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def run(*argv: str | Path, env: dict[str, str] | None = None, ok: bool = True) -> str:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=900, check=False,
        env=env or clean_env(),
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert (done.returncode == 0) == ok, f"{argv} exited {done.returncode}:\n{output[-6000:]}"
    return output


def venv(python: Path, path: Path) -> Path:
    run(python, "-m", "venv", path)
    return path / "bin" / "python"


def uv() -> str:
    found = shutil.which("uv")
    assert found, "uv is a dependency of the builder and must be on PATH"
    return found


def pip_install(python: Path, index: str, *names: str, ok: bool = True) -> str:
    return run(
        python, "-m", "pip", "install", "-vvv", "--no-cache-dir", "--index-url", index,
        *names, ok=ok,
    )  # fmt: skip


def uv_install(python: Path, *args: str, ok: bool = True) -> str:
    return run(
        uv(), "pip", "install", "--no-config", "--no-cache", "--python", python, *args, ok=ok
    )


def gets(pip_log: str) -> list[str]:
    """The paths pip fetched, from urllib3's debug lines in `pip -vvv`."""
    return [line.split('"GET ')[1].split(" HTTP/")[0] for line in pip_log.splitlines()
            if '"GET ' in line]  # fmt: skip


PYTHONS = [platform_id(v) for v in INTERPRETERS]


def python_for(built: Built, pid: str) -> Path:
    if pid not in built.pythons:
        pytest.skip(f"no CPython for {pid} on this machine")
    return built.pythons[pid]


# --- installs through node A's gateway ----------------------------------------------------


def pip_version(python: Path) -> tuple[int, ...]:
    out = run(python, "-m", "pip", "--version").split()[1]
    return tuple(int(x) for x in out.split(".")[:2])


# pip 22.3-23.1 read PEP 658's `data-dist-info-metadata` but reject a .metadata whose
# Name differs from the project's normalized name ("inconsistent Name: expected
# 'markupsafe', but metadata has 'MarkupSafe'"); pip 23.2 reads PEP 714's
# `data-core-metadata` and has the fix. PEP 714 renamed the attribute so that such
# pips never see the metadata; an index that still emits the old name breaks them.
OLD_PIP_BUG = "inconsistent Name"


def old_pip_breaks(python: Path, page: bytes) -> bool:
    return pip_version(python) < (23, 2) and b"data-dist-info-metadata" in page


@pytest.mark.parametrize("subtree", ["root", "platform"])
@pytest.mark.parametrize("pid", PYTHONS)
def test_pip_installs_through_the_gateway(
    built: Built, node_a: KuboDaemon, cid: str, tmp_path: Path, pid: str, subtree: str
) -> None:
    python = venv(python_for(built, pid), tmp_path / "venv")
    gateway = Gateway.parse(node_a.gateway_url)
    sub = f"_platforms/{pid}" if subtree == "platform" else ""
    index = gateway.index_url(cid, sub)
    if old_pip_breaks(python, gateway.read(cid, f"{sub}/markupsafe/index.html".lstrip("/"))):
        assert OLD_PIP_BUG in pip_install(python, index, *INSTALL, ok=False)
        pytest.xfail(
            f"pip {pip_version(python)} (bundled with this interpreter) fails on "
            "data-dist-info-metadata with non-normalized Names; builder/tree/index.py should "
            "emit only PEP 714's data-core-metadata"
        )
    log = pip_install(python, index, *INSTALL)
    run(python, "-c", CHECK)

    # The only wheels downloaded are the ones installed (one per project); with PEP 658
    # each comes after its .whl.metadata, which is what resolution read.
    paths = gets(log)
    wheels = [p for p in paths if p.endswith(".whl")]
    metadata = [p for p in paths if p.endswith(".whl.metadata")]
    assert len(wheels) == len(SUBSET), wheels
    if pip_version(python) >= (23, 2):
        assert sorted(metadata) == sorted(f"{w}.metadata" for w in wheels)
        for w in wheels:
            assert paths.index(f"{w}.metadata") < paths.index(w)
    manifest = json.loads((built.assembly.tree / "manifest.json").read_bytes())
    expected = {p["platforms"][pid]["wheel"] for p in manifest["projects"].values()}
    assert {w.rsplit("/", 1)[1] for w in wheels} == expected


@pytest.mark.parametrize("pid", ROOTED)
def test_pip_installs_through_the_gateway_on_a_root(
    built: Built, node_a: KuboDaemon, cid: str, tmp_path: Path, pid: str
) -> None:
    """CPython 3.14, 3.15 and PyPy run here only on their root, in the sandbox: a venv
    made there, pip put in it, and pip run there with the host's network (the gateway
    listens on loopback) installs the subset and its C extensions."""
    if pid not in built.rooted:
        pytest.skip("bubblewrap cannot run here: no rooted interpreter")
    platform = built.rooted[pid]
    job = tmp_path / "job"
    job.mkdir()
    confined = rooted.sandbox(platform, job, built.cache)
    rooted.make_venv(platform=platform, uv=uv_binary(), venv=job / "venv", sandbox=confined,
                     requirements=[[PIP]], log=job / "venv.log", tool_env=clean_env())  # fmt: skip
    python = str(job / "venv" / "bin" / "python")
    online = Sandbox(writable=job, system=confined.system, network=True)
    index = Gateway.parse(node_a.gateway_url).index_url(cid)
    pip = [python, "-m", "pip", "install", "-vvv", "--no-cache-dir", "--index-url", index, *INSTALL]
    log = run(*online.wrap(pip, cwd=job), env=clean_env(HOME=str(job)))
    run(*online.wrap([python, "-c", CHECK], cwd=job), env=clean_env(HOME=str(job)))
    wheels = [p.rsplit("/", 1)[1] for p in gets(log) if p.endswith(".whl")]
    manifest = json.loads((built.assembly.tree / "manifest.json").read_bytes())
    assert sorted(wheels) == sorted(
        p["platforms"][pid]["wheel"] for p in manifest["projects"].values()
    )
    tag = platform.abi if platform.implementation == "pypy" else platform.interpreter
    assert any(f"-{tag}-manylinux" in w and w.startswith("pyyaml-") for w in wheels), wheels


@pytest.mark.parametrize("subtree", ["root", "platform"])
@pytest.mark.parametrize("pid", PYTHONS)
def test_uv_installs_through_the_gateway(
    built: Built, node_a: KuboDaemon, cid: str, tmp_path: Path, pid: str, subtree: str
) -> None:
    python = venv(python_for(built, pid), tmp_path / "venv")
    gateway = Gateway.parse(node_a.gateway_url)
    index = gateway.index_url(cid, f"_platforms/{pid}" if subtree == "platform" else "")
    uv_install(python, "--index-url", index, *INSTALL)
    run(python, "-c", CHECK)


@pytest.mark.parametrize("pid", PYTHONS)
def test_uv_installs_the_pylock(
    built: Built, node_a: KuboDaemon, cid: str, tmp_path: Path, pid: str
) -> None:
    python = venv(python_for(built, pid), tmp_path / "venv")
    lock = tmp_path / "pylock.toml"
    argv = ["lock", "--cid", cid, "--platform", pid, "--gateway", node_a.gateway_url]
    assert main([*argv, "-o", str(lock), *INSTALL]) == 0
    # From the local tree the same bytes come out: its computed CID is the published one.
    local = tmp_path / "pylock.local.toml"
    tree = str(built.assembly.tree)
    assert main([*argv, "--tree", tree, "-o", str(local), *INSTALL]) == 0
    assert lock.read_bytes() == local.read_bytes()
    out = uv_install(python, "--preview-features", "pylock", "-r", lock)
    assert f"Installed {len(SUBSET)} packages" in out, out
    run(python, "-c", CHECK)


def test_pylock_refuses_the_wrong_interpreter(
    built: Built, node_a: KuboDaemon, cid: str, tmp_path: Path
) -> None:
    others = [p for p in built.pythons if p != NATIVE]
    python = venv(built.pythons[others[0]], tmp_path / "venv")
    lock = tmp_path / "pylock.toml"
    argv = ["lock", "--cid", cid, "--platform", NATIVE, "--gateway", node_a.gateway_url]
    assert main([*argv, "-o", str(lock), *INSTALL]) == 0
    uv_install(python, "--preview-features", "pylock", "-r", lock, ok=False)


# --- mirroring ---------------------------------------------------------------------------


def peer_address(daemon: KuboDaemon) -> str:
    info = daemon.rpc("id")
    assert isinstance(info, dict)
    return next(a for a in info["Addresses"] if a.startswith("/ip4/127.0.0.1/tcp/"))


def test_a_mirror_serves_the_tree_after_the_origin_stops(
    built: Built, kubo_bin: Path, tmp_path: Path
) -> None:
    car = built.assembly.car
    assert car is not None
    with running_daemon(kubo_bin, tmp_path / "b") as node_b:
        with running_daemon(kubo_bin, tmp_path / "a") as origin:
            root = publish(car, api=origin.api_url, gateway=origin.gateway_url).cid
            node_b.repo.run("swarm", "connect", peer_address(origin))
            node_b.repo.run("pin", "add", "--progress=false", root)  # the mirror, as documented
        # The origin is gone; B must not be fetching from anyone now.
        peers = node_b.rpc("swarm/peers")
        assert not (isinstance(peers, dict) and peers.get("Peers")), peers
        gateway = Gateway.parse(node_b.gateway_url)
        for pid, interpreter in built.pythons.items():
            python = venv(interpreter, tmp_path / f"venv-{pid}")
            if old_pip_breaks(python, gateway.read(root, "markupsafe/index.html")):
                uv_install(python, "--index-url", gateway.index_url(root), *INSTALL)
            else:
                pip_install(python, gateway.index_url(root), *INSTALL)
            run(python, "-c", CHECK)
        tree = built.assembly.tree
        served = 0
        for path in sorted(tree.rglob("*.whl")):
            relative = path.relative_to(tree).as_posix()
            assert gateway.read(root, relative) == path.read_bytes(), relative
            served += 1
        assert served >= len(SUBSET)


# --- tampering ---------------------------------------------------------------------------


def _car_of(tree: Path, out: Path) -> tuple[str, Path]:
    with BlockStore() as blocks:
        importer = Importer(profile=get_profile(), sink=blocks)
        root = importer.add_path(tree).cid
        car = out / f"{root}.car"
        write_dag_car(car, root, blocks)
    return str(root), car


def test_one_byte_changes_the_cid_and_the_old_hashes_refuse_it(
    built: Built, node_a: KuboDaemon, cid: str, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(built.assembly.tree, tree)
    victim = next((tree / "markupsafe").glob("*cp312*.whl"))
    for path in [victim, *(tree / "_platforms").rglob(victim.name)]:
        path.chmod(0o644)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    tampered = str(cid_of_path(tree, get_profile().name))
    assert tampered != cid
    root, car = _car_of(tree, tmp_path)
    assert root == tampered
    publish(car, api=node_a.api_url, gateway=node_a.gateway_url)

    # The tampered tree's index pages still carry the old #sha256: pip refuses.
    gateway = Gateway.parse(node_a.gateway_url)
    python = venv(built.pythons[NATIVE], tmp_path / "venv")
    log = pip_install(python, gateway.index_url(tampered), "markupsafe", ok=False)
    assert "DO NOT MATCH THE HASHES" in log, log[-3000:]

    # A lock of the real tree, pointed at the tampered one: uv refuses too.
    lock = tmp_path / "pylock.toml"
    argv = ["lock", "--cid", cid, "--platform", NATIVE, "--gateway", node_a.gateway_url]
    assert main([*argv, "-o", str(lock), "markupsafe"]) == 0
    lock.write_text(lock.read_text().replace(cid, tampered))
    out = uv_install(python, "--preview-features", "pylock", "-r", lock, ok=False).lower()
    # uv extracts while it streams, so the zip's own CRC may trip before the sha256 does.
    assert "hash" in out or "bad crc" in out, out
    # The old CID still means the old bytes.
    relative = victim.relative_to(tree).as_posix()
    assert gateway.read(cid, relative) == (built.assembly.tree / relative).read_bytes()


def test_a_damaged_car_is_refused_before_anything_is_pinned(
    built: Built, kubo_bin: Path, tmp_path: Path
) -> None:
    car = built.assembly.car
    assert car is not None
    roots, blocks = read_car(car)
    damaged = tmp_path / car.name
    data = bytearray(car.read_bytes())
    biggest = max(blocks.values(), key=len)
    at = data.find(biggest)
    data[at + len(biggest) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    with running_daemon(kubo_bin, tmp_path / "repo") as node:
        with pytest.raises(PublishError, match="damaged"):
            publish(damaged, api=node.api_url, gateway=node.gateway_url)
        with pytest.raises(urllib.error.HTTPError):
            node.rpc("pin/ls", arg=str(roots[0]), type="recursive")


# --- the seed's literal command -----------------------------------------------------------


@contextlib.contextmanager
def configured_daemon(repo: KuboRepo, timeout: float = 60) -> Iterator[KuboDaemon]:
    """`ipfs daemon` on a repo configured beforehand (running_daemon initialises its own)."""
    process = subprocess.Popen(
        [str(repo.binary), "daemon"], env=repo.env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    urls: dict[str, str] = {}
    ready = threading.Event()

    def watch() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if match := _LISTEN.match(line):
                urls[match.group(1)] = f"http://{match.group(2)}:{match.group(3)}"
            if line.startswith("Daemon is ready"):
                ready.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            assert process.poll() is None and time.monotonic() < deadline, "no daemon"
        yield KuboDaemon(repo=repo, api_url=urls["RPC API"], gateway_url=urls["Gateway"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


def test_default_kubo_redirects_localhost_to_an_unresolvable_subdomain(
    built: Built, node_a: KuboDaemon, cid: str, tmp_path: Path
) -> None:
    seed_form = f"http://localhost:{_port(node_a.gateway_url)}/ipfs/{cid}"
    problem = probe_path_gateway(Gateway.parse(seed_form.rsplit("/ipfs/", 1)[0]), cid)
    assert problem is not None and f"{cid}.ipfs.localhost" in problem, problem
    try:
        socket.getaddrinfo(f"{cid}.ipfs.localhost", 80)
    except socket.gaierror:
        pass
    else:
        pytest.skip("*.localhost resolves on this host, so the redirect works here")
    python = venv(built.pythons[NATIVE], tmp_path / "venv")
    pip_install(python, seed_form, "idna", ok=False)


def test_the_seeds_literal_command_with_localhost_as_a_path_gateway(
    built: Built, kubo_bin: Path, tmp_path: Path
) -> None:
    """`pip config --site set global.index-url http://localhost:PORT/ipfs/$CID`, then pip."""
    repo = init_repo(kubo_bin, tmp_path / "repo")
    paths = {"localhost": {"Paths": ["/ipfs", "/ipns"], "UseSubdomains": False}}
    repo.run("config", "--json", "Gateway.PublicGateways", json.dumps(paths))
    # A DHT without bootstrap peers: nothing leaves the machine, and the node keeps its
    # own IPNS records (with Routing.Type "none" it would not store them at all).
    repo.run("config", "Routing.Type", "dht")
    car = built.assembly.car
    assert car is not None
    with configured_daemon(repo) as node:
        port = _port(node.gateway_url)
        done = publish(car, api=node.api_url, gateway=f"http://localhost:{port}", ipns_key="self")
        assert done.gateway_problem is None, done.gateway_problem
        python = venv(built.pythons[NATIVE], tmp_path / "venv")
        # The seed's form exactly: localhost, no trailing slash, set in the venv's site config.
        env = clean_env()
        del env["PIP_CONFIG_FILE"]
        index = f"http://localhost:{port}/ipfs/{done.cid}"
        run(python, "-m", "pip", "config", "--site", "set", "global.index-url", index, env=env)
        run(python, "-m", "pip", "install", "--no-cache-dir", *INSTALL, env=env)
        run(python, "-c", CHECK)
        # The channel: /ipns/<name>/ is the same index.
        assert done.ipns_name is not None
        ipns = f"http://127.0.0.1:{port}/ipns/{done.ipns_name}/"
        python = venv(built.pythons[NATIVE], tmp_path / "venv-ipns")
        pip_install(python, ipns, *INSTALL)
        with urllib.request.urlopen(ipns + "manifest.json", timeout=60) as response:
            body = response.read()
        assert (
            hashlib.sha256(body).digest()
            == hashlib.sha256((built.assembly.tree / "manifest.json").read_bytes()).digest()
        )
