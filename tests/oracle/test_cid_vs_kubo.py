"""Our CIDs against the real kubo's `ipfs add -r --only-hash`, both IPIP-499 profiles.

Inputs are generated deterministically in tmp dirs (random.Random with fixed seeds),
never stored. Every case compares the root CID, which depends on every block.
"""

from __future__ import annotations

import dataclasses
import filecmp
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from builder.ipfs.car import BlockStore, write_dag_car
from builder.ipfs.dagpb import DataType, decode_dagpb, decode_unixfs
from builder.ipfs.multiformats import DAG_PB, Cid
from builder.ipfs.unixfs import CidProfile, DagRef, Importer, get_profile
from tests.kubo import KuboRepo, init_repo, running_daemon

pytestmark = pytest.mark.kubo

PROFILES = ["unixfs-v1-2025", "unixfs-v0-2015"]


def ours(path: Path, profile: CidProfile) -> str:
    return str(Importer(profile=profile).add_path(path).cid)


def assert_same_cid(repo: KuboRepo, path: Path, profile: CidProfile, *flags: str) -> str:
    """Compare root CIDs; on a mismatch, name the first differing entry below the root."""
    theirs = repo.add_only_hash(path, *flags)
    mine = ours(path, profile)
    if mine != theirs and path.is_dir():
        lines = repo.run("add", "-r", "--only-hash", *flags, str(path)).splitlines()
        kubo_entries = {ln.split(" ", 2)[2]: ln.split(" ", 2)[1] for ln in lines}
        for child in sorted(path.iterdir()):
            key = f"{path.name}/{child.name}"
            if key in kubo_entries and ours(child, profile) != kubo_entries[key]:
                pytest.fail(f"{child}: ours {ours(child, profile)} kubo {kubo_entries[key]}")
    assert mine == theirs, f"{path}: ours {mine}, kubo {theirs}"
    return mine


def root_type(path: Path, profile: CidProfile) -> DataType:
    """What kind of node our importer made for a directory's root."""
    blocks: dict[Cid, bytes] = {}

    class Keep:
        def put(self, cid: Cid, block: bytes) -> None:
            blocks[cid] = block

    root = Importer(profile=profile, sink=Keep()).add_path(path).cid
    data = decode_dagpb(blocks[root]).data
    assert data is not None
    return decode_unixfs(data).type


# --- files at chunk and link-count boundaries -----------------------------------------------


def _file_sizes(profile: CidProfile) -> list[int]:
    c = profile.chunk_size
    sizes = [0, 1, c - 1, c, c + 1, 3 * c + 7]
    if profile.file_max_links * c <= 64 << 20:
        # v0's link limit is 174 chunks (44.6 MB): cross it for real. v1's is 1 GiB;
        # the IPIP-499 vectors and the small-chunk cases below cover it.
        sizes += [profile.file_max_links * c, profile.file_max_links * c + 1]
    return sizes


@pytest.mark.parametrize("name", PROFILES)
def test_files_at_chunk_boundaries(
    name: str, kubo_repos: dict[str, KuboRepo], tmp_path: Path
) -> None:
    profile = get_profile(name)
    for size in _file_sizes(profile):
        path = tmp_path / f"file-{size}"
        path.write_bytes(random.Random(size).randbytes(size))
        assert_same_cid(kubo_repos[name], path, profile)
        path.unlink()


@pytest.mark.parametrize("name", PROFILES)
def test_balanced_tree_across_link_limits(
    name: str, kubo_repos: dict[str, KuboRepo], tmp_path: Path
) -> None:
    """Small chunks and 5 links per node reach depth 4 with a few hundred KB."""
    profile = dataclasses.replace(get_profile(name), chunk_size=1000, file_max_links=5)
    flags = ("--chunker=size-1000", "--max-file-links=5")
    for size in [4999, 5000, 5001, 25000, 25001, 125000, 125001, 300_007]:
        path = tmp_path / f"file-{size}"
        path.write_bytes(random.Random(size).randbytes(size))
        assert_same_cid(kubo_repos[name], path, profile, *flags)


# --- directories -------------------------------------------------------------------------------


def make_mixed_tree(root: Path) -> Path:
    """Names and shapes that importers get wrong: unicode, spaces, hidden, empty, links."""
    rng = random.Random(499)
    root.mkdir()
    (root / "a b c").mkdir()
    (root / "a b c" / "naïve café.txt").write_bytes(b"composed")
    (root / "a b c" / "nai\u0308ve cafe\u0301.txt").write_bytes(b"decomposed")  # NFD twin
    (root / "日本語").mkdir()
    (root / "日本語" / "🎉 party").write_bytes(rng.randbytes(70_000))
    (root / "empty-dir").mkdir()
    (root / "empty-file").write_bytes(b"")
    (root / "same-1").write_bytes(b"identical")
    (root / "same-2").write_bytes(b"identical")
    (root / ".hidden-file").write_bytes(b"skipped")
    (root / ".hidden-dir").mkdir()
    (root / ".hidden-dir" / "x").write_bytes(b"skipped too")
    (root / "only-hidden-inside").mkdir()
    (root / "only-hidden-inside" / ".gitkeep").write_bytes(b"")
    deep = root / "deep"
    for level in range(20):
        deep = deep / f"level {level}"
    deep.mkdir(parents=True)
    (deep / "bottom").write_bytes(rng.randbytes(3_000_000))
    (root / "link-to-file").symlink_to("same-1")
    (root / "link-to-dir").symlink_to("日本語")
    (root / "link-absolute").symlink_to("/etc/hostname")
    (root / "link-dangling").symlink_to("../nowhere/")
    (root / "-dash").write_bytes(b"-")
    (root / "UPPER").write_bytes(b"U")
    (root / "lower").write_bytes(b"l")
    return root


@pytest.mark.parametrize("name", PROFILES)
def test_mixed_tree(name: str, kubo_repos: dict[str, KuboRepo], tmp_path: Path) -> None:
    tree = make_mixed_tree(tmp_path / "tree")
    assert_same_cid(kubo_repos[name], tree, get_profile(name))
    assert_same_cid(kubo_repos[name], tree / "empty-dir", get_profile(name))
    # A symlink named on the command line is added as a symlink, not followed.
    assert_same_cid(kubo_repos[name], tree / "link-to-dir", get_profile(name))
    assert_same_cid(kubo_repos[name], tree / "link-dangling", get_profile(name))


def _hamt_edge_names(profile: CidProfile, over: bool) -> list[str]:
    """Entry names that put a directory exactly at the threshold, or 1 byte over it.

    unixfs-v0-2015 counts len(name) + 34 per entry, so 8-character names fit 6,241
    entries (> 6,000). unixfs-v1-2025 counts the real block: 4 bytes of Data plus
    44 + len(name) per link (Tsize 1 for the file "x", 4 for an empty directory),
    so no more than ~5,000 entries fit under 256 KiB at all.
    """
    per_entry = 8 + (34 if profile.cid_version == 0 else 44)
    fixed = 0 if profile.cid_version == 0 else 4
    count = (profile.hamt_threshold - fixed) // per_entry
    extra = profile.hamt_threshold - fixed - count * per_entry + (1 if over else 0)
    names = [f"{i:08d}" for i in range(count)]
    names[-1] += "x" * extra
    return names


@pytest.mark.parametrize("over", [False, True], ids=["at-threshold", "over"])
@pytest.mark.parametrize("kind", ["files", "subdirs"])
@pytest.mark.parametrize("name", PROFILES)
def test_hamt_threshold_edges(
    name: str, kind: str, over: bool, kubo_repos: dict[str, KuboRepo], tmp_path: Path
) -> None:
    """Exactly at the threshold stays basic; past it shards (v0: more than 6,000 entries).

    Files go 1 byte over. Sub-directories go one entry (42 or 52 bytes) over: within
    a few bytes above the threshold kubo itself does not shard them reliably, see
    test_kubo_quirk_subdirectories_just_over_threshold.
    """
    profile = get_profile(name)
    root = tmp_path / "dir"
    root.mkdir()
    names = _hamt_edge_names(profile, over and kind == "files")
    if over and kind == "subdirs":
        names.append("99999999")
    if profile.cid_version == 0:
        assert len(names) > 6000
    for entry in names:
        if kind == "files":
            (root / entry).write_bytes(b"x")
        else:
            (root / entry).mkdir()
    # Prove the case sits on the edge we claim, then that kubo agrees.
    assert root_type(root, profile) is (DataType.HAMT_SHARD if over else DataType.DIRECTORY)
    assert_same_cid(kubo_repos[name], root, profile)


def test_kubo_quirk_subdirectories_just_over_threshold(
    kubo_repos: dict[str, KuboRepo], tmp_path: Path
) -> None:
    """A known divergence, pinned so that a kubo upgrade that changes it is noticed.

    kubo (0.43) flushes MFS's cached sub-directories into their parent after the
    import, one replacement at a time. Each replacement re-evaluates sharding with
    sizes that count the stored HAMT link name ("00" + name) and an unnamed new link,
    so within about len(name) + 2 bytes above the threshold the directory flips
    between HAMT and basic on every replacement (O(n^2) work: 10 s here, minutes for
    6,000 entries) and ends as whichever the parity leaves it, which differs between
    runs (both answers were seen here). We apply the rule kubo
    documents and applies everywhere else: shard when the size is > the threshold.
    """
    profile = get_profile("unixfs-v1-2025")
    root = tmp_path / "dir"
    root.mkdir()
    # 1,807 sub-directories with 100-character names; the last name (225 characters)
    # makes the basic block exactly 262,145 bytes, 1 over the threshold.
    names = [f"{i:05d}" + "n" * 95 for i in range(1807)]
    names[-1] += "m" * 125
    for entry in names:
        (root / entry).mkdir()
    unsharded = dataclasses.replace(profile, hamt_threshold=0)
    blocks: dict[Cid, bytes] = {}

    class Keep:
        def put(self, cid: Cid, block: bytes) -> None:
            blocks[cid] = block

    basic = Importer(profile=unsharded, sink=Keep()).add_path(root).cid
    assert len(blocks[basic]) == profile.hamt_threshold + 1
    assert root_type(root, profile) is DataType.HAMT_SHARD
    sharded = Importer(profile=profile).add_path(root).cid
    # Which of the two kubo ends on depends on the order its flushes run in, and that
    # varies between runs: pin the pair, so that any other answer is noticed.
    assert kubo_repos[profile.name].add_only_hash(root) in {str(basic), str(sharded)}


@pytest.mark.parametrize("kind", ["files", "subdirs"])
@pytest.mark.parametrize("name", PROFILES)
def test_large_hamt(name: str, kind: str, kubo_repos: dict[str, KuboRepo], tmp_path: Path) -> None:
    """7,000 entries: sub-shards two levels down, and names of every length class."""
    profile = get_profile(name)
    root = tmp_path / "dir"
    root.mkdir()
    rng = random.Random(7000)
    for i in range(7000):
        entry = root / f"{'p' * rng.randrange(1, 40)}-{i} ñ"
        if kind == "files":
            entry.write_bytes(rng.randbytes(rng.randrange(0, 300)))
        else:
            entry.mkdir()
            if i % 10 == 0:
                (entry / "inner").write_bytes(b"i")
    assert root_type(root, profile) is DataType.HAMT_SHARD
    assert_same_cid(kubo_repos[name], root, profile)


# --- random trees with tiny parameters ------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_repos(kubo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, KuboRepo]:
    """Repos whose chunks, link limits and sharding threshold are small enough that
    every random tree of a few KB exercises all of them."""
    repos = {}
    for name in PROFILES:
        repo = init_repo(kubo, tmp_path_factory.mktemp("tiny") / name, name)
        repo.run("config", "Import.UnixFSChunker", "size-1000")
        repo.run("config", "--json", "Import.UnixFSFileMaxLinks", "5")
        repo.run("config", "Import.UnixFSHAMTDirectorySizeThreshold", "1KiB")
        repos[name] = repo
    return repos


def _tiny(name: str) -> CidProfile:
    return dataclasses.replace(
        get_profile(name), chunk_size=1000, file_max_links=5, hamt_threshold=1024
    )


_names = st.text(
    st.characters(codec="utf-8", exclude_characters="/\0", exclude_categories=["Cs", "Cc"]),
    min_size=1,
    max_size=12,
).filter(lambda n: n not in (".", ".."))
_trees = st.recursive(
    st.integers(0, 12_000) | st.just(-1),  # a file size, or -1 for an empty directory
    lambda children: st.dictionaries(_names, children, min_size=1, max_size=40),
    max_leaves=80,
)


def _lay_out(path: Path, node: object, seed: int) -> None:
    if isinstance(node, dict):
        path.mkdir()
        for i, (name, child) in enumerate(node.items()):
            _lay_out(path / name, child, seed * 31 + i)
    elif node == -1:
        path.mkdir()
    else:
        assert isinstance(node, int)
        path.write_bytes(random.Random(seed).randbytes(node))


def _in_kubo_quirk_band(root: Path, profile: CidProfile) -> bool:
    """Whether a directory below root holds sub-directories and has a size near the
    threshold, where kubo's answer varies between runs (see
    test_kubo_quirk_subdirectories_just_over_threshold; a random tree hit it in CI)."""
    blocks: dict[Cid, bytes] = {}
    sizes: list[tuple[list[tuple[bytes, DagRef]], int]] = []

    class Keep:
        def put(self, cid: Cid, block: bytes) -> None:
            blocks[cid] = block

    class Recording(Importer):
        def _needs_sharding(self, items: list[tuple[bytes, DagRef]], links: list[bytes]) -> bool:
            sizes.append((items, self._directory_size(items, links)))
            return super()._needs_sharding(items, links)

    def is_directory(ref: DagRef) -> bool:
        if ref.cid.codec != DAG_PB:  # a raw leaf
            return False
        data = decode_dagpb(blocks[ref.cid]).data
        return data is not None and decode_unixfs(data).type in (
            DataType.DIRECTORY,
            DataType.HAMT_SHARD,
        )

    Recording(profile=profile, sink=Keep()).add_path(root)
    for items, size in sizes:
        # Kubo's replacements count a HAMT prefix ("00") and drop one name or link: a
        # margin of the longest name plus a whole link covers both directions.
        margin = max((len(n) for n, _ in items), default=0) + 2 + 48
        if abs(size - profile.hamt_threshold) <= margin and any(
            is_directory(ref) for _, ref in items
        ):
            return True
    return False


@pytest.mark.parametrize("name", PROFILES)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=st.dictionaries(_names, _trees, max_size=30))
def test_random_trees(
    name: str,
    tree: dict[str, object],
    tiny_repos: dict[str, KuboRepo],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = tmp_path_factory.mktemp("random") / "root"
    try:
        _lay_out(root, tree, 1)
    except OSError as e:  # a name this filesystem refuses (e.g. too long in bytes)
        pytest.skip(f"filesystem refused a generated name: {e}")
    try:
        assume(not _in_kubo_quirk_band(root, _tiny(name)))
        assert_same_cid(tiny_repos[name], root, _tiny(name))
    finally:
        shutil.rmtree(root)


# --- our CAR in a real node -------------------------------------------------------------------


def _same_tree(ours_dir: Path, theirs: Path) -> None:
    """Compare what `ipfs get` wrote with the source: kubo's rules applied to the source."""
    mine = sorted(p.relative_to(ours_dir) for p in ours_dir.rglob("*") if not _hidden(p, ours_dir))
    got = sorted(p.relative_to(theirs) for p in theirs.rglob("*"))
    assert mine == got
    for rel in mine:
        a, b = ours_dir / rel, theirs / rel
        if a.is_symlink():
            assert b.is_symlink() and os.readlink(a) == os.readlink(b), rel
        elif a.is_file():
            assert b.is_file() and filecmp.cmp(a, b, shallow=False), rel
        else:
            assert b.is_dir() and not b.is_symlink(), rel


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


@pytest.mark.parametrize("name", PROFILES)
def test_car_imports_pins_and_round_trips(name: str, kubo: Path, tmp_path: Path) -> None:
    tree = make_mixed_tree(tmp_path / "tree")
    big = tree / "big-dir"
    big.mkdir()
    for i in range(7000):  # a HAMT under both profiles
        (big / f"w-{i}.whl").write_bytes(i.to_bytes(4, "big"))
    profile = get_profile(name)
    car = tmp_path / "tree.car"
    with BlockStore(tmp_path) as store:
        root = Importer(profile=profile, sink=store).add_path(tree).cid
        write_dag_car(car, root, store)
    with running_daemon(kubo, tmp_path / "node") as node:
        out = node.repo.run("dag", "import", "--stats", str(car))
        assert f"Pinned root\t{root}\tsuccess" in out
        pins = node.repo.run("pin", "ls", "--type=recursive", str(root))
        assert str(root) in pins
        # Same bytes as kubo's own export of that DAG: same blocks, same order.
        exported = subprocess.run(
            [str(kubo), "dag", "export", str(root)], env=node.repo.env,
            capture_output=True, check=True, timeout=120,
        ).stdout  # fmt: skip
        assert exported == car.read_bytes()
        node.repo.run("get", "-o", str(tmp_path / "got"), str(root))
    _same_tree(tree, tmp_path / "got")
