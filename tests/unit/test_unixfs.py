"""The UnixFS importer and its encoders, without kubo (tests/oracle compares with kubo)."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder import cli
from builder.errors import UnixfsError
from builder.ipfs.dagpb import (
    DataType,
    PBLink,
    UnixfsData,
    decode_dagpb,
    decode_unixfs,
    encode_dagpb,
    encode_unixfs,
)
from builder.ipfs.multiformats import DAG_PB, RAW, Cid, read_varint, varint
from builder.ipfs.unixfs import (
    DagRef,
    Importer,
    LocalFile,
    SizeEstimation,
    cid_of_tree,
    get_profile,
    hamt_hash,
    load_profiles,
)

V1 = get_profile("unixfs-v1-2025")
V0 = get_profile("unixfs-v0-2015")


class Blocks:
    """A BlockSink that keeps everything, to look inside the DAG."""

    def __init__(self) -> None:
        self.blocks: dict[Cid, bytes] = {}

    def put(self, cid: Cid, block: bytes) -> None:
        assert cid.verify(block)
        self.blocks[cid] = block

    def node(self, cid: Cid) -> tuple[list[PBLink], UnixfsData]:
        pb = decode_dagpb(self.blocks[cid])
        assert pb.data is not None
        return list(pb.links), decode_unixfs(pb.data)


# --- profiles ---------------------------------------------------------------------------


def test_profiles_are_data_and_match_ipip_499() -> None:
    loaded = load_profiles()
    assert loaded.default == "unixfs-v1-2025"
    assert get_profile() == V1
    assert (V1.cid_version, V1.raw_leaves, V1.chunk_size, V1.file_max_links) == (
        1,
        True,
        1 << 20,
        1024,
    )
    assert (V0.cid_version, V0.raw_leaves, V0.chunk_size, V0.file_max_links) == (
        0,
        False,
        1 << 18,
        174,
    )
    assert V1.hamt_size_estimation is SizeEstimation.BLOCK
    assert V0.hamt_size_estimation is SizeEstimation.LINKS
    for profile in (V0, V1):
        assert (profile.hamt_fanout, profile.hamt_threshold) == (256, 262144)
        assert profile.problems() == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        V1.chunk_size = 1  # type: ignore[misc]


def test_profile_checks_catch_impossible_combinations() -> None:
    bad = dataclasses.replace(V0, raw_leaves=True, hamt_fanout=100, chunk_size=0)
    problems = " ".join(bad.problems())
    assert "raw-leaves needs cid-version 1" in problems
    assert "hamt-fanout" in problems and "chunk-size" in problems


def test_unknown_profile_says_which_exist() -> None:
    with pytest.raises(UnixfsError) as e:
        get_profile("unixfs-v9")
    assert "unixfs-v0-2015" in e.value.fix and "unixfs-v1-2025" in e.value.fix


# --- known CIDs (kubo and the IPIP-499 vectors agree on these) -------------------------


@pytest.mark.parametrize(
    ("profile", "content", "expected"),
    [
        (V1, b"hello world", "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"),
        (V0, b"hello world", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"),
        (V1, b"", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
        (V0, b"", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
    ],
)
def test_known_file_cids(profile: object, content: bytes, expected: str) -> None:
    assert str(Importer(profile=profile).file_from_bytes(content).cid) == expected  # type: ignore[arg-type]


def test_known_empty_directory_cids() -> None:
    v0 = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
    assert str(Importer(profile=V0).directory({}).cid) == v0
    assert str(cid_of_tree({}, "unixfs-v0-2015")) == v0
    v1 = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
    assert str(Importer(profile=V1).directory({}).cid) == v1


# --- files ------------------------------------------------------------------------------

SMALL_RAW = dataclasses.replace(V1, name="small-raw", chunk_size=10, file_max_links=3)
SMALL_PB = dataclasses.replace(V0, name="small-pb", chunk_size=10, file_max_links=3)


@pytest.mark.parametrize("profile", [SMALL_RAW, SMALL_PB], ids=lambda p: p.name)
def test_balanced_layout_shape(profile: object) -> None:
    sink = Blocks()
    importer = Importer(profile=profile, sink=sink)  # type: ignore[arg-type]

    def shape(cid: Cid) -> object:
        if cid.codec == RAW:
            return len(sink.blocks[cid])
        links, meta = sink.node(cid)
        if not links:
            assert meta.type is DataType.FILE and meta.data is not None
            return len(meta.data)
        assert meta.type is DataType.FILE and meta.data is None
        assert meta.filesize == sum(meta.blocksizes)
        assert all(link.name == b"" for link in links)
        return [shape(link.cid) for link in links]

    # 3 chunks fill one node; the 4th forces a second level; 9 fill two; 10 a third.
    assert shape(importer.file_from_bytes(b"a" * 10).cid) == 10
    assert shape(importer.file_from_bytes(b"a" * 11).cid) == [10, 1]
    assert shape(importer.file_from_bytes(b"a" * 30).cid) == [10, 10, 10]
    assert shape(importer.file_from_bytes(b"a" * 31).cid) == [[10, 10, 10], [1]]
    assert shape(importer.file_from_bytes(b"a" * 91).cid) == [
        [[10, 10, 10], [10, 10, 10], [10, 10, 10]],
        [[1]],
    ]


def test_tsize_is_the_whole_dag() -> None:
    sink = Blocks()
    ref = Importer(profile=SMALL_PB, sink=sink).file_from_bytes(os.urandom(95))
    assert ref.tsize == sum(len(b) for b in sink.blocks.values())


class ShortReads(io.RawIOBase):
    """A pipe-like stream: at most 7 bytes per read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self._data.readinto(buffer[:7])


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([SMALL_RAW, SMALL_PB]))
def test_bytes_stream_and_short_reads_agree(data: bytes, profile: object) -> None:
    importer = Importer(profile=profile)  # type: ignore[arg-type]
    whole = importer.file_from_bytes(data)
    assert importer.file_from_stream(io.BytesIO(data)) == whole
    assert importer.file_from_stream(ShortReads(data)) == whole


def test_file_cache_by_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"wheel bytes")
    cache: dict[str, DagRef] = {}
    importer = Importer(profile=V1, cache=cache)
    ref = importer.file_from_path(path)
    (key,) = cache
    assert key.startswith("unixfs-v1-2025/") and cache[key] == ref
    # A known sha256 is trusted: the file is not even opened.
    sha = key.split("/")[1]
    assert importer.file_from_path(tmp_path / "absent", sha256=sha) == ref
    tree = {"w/a.whl": LocalFile(path=tmp_path / "absent", sha256=sha)}
    assert Importer(profile=V1, cache=cache).add_tree(tree) == Importer(profile=V1).add_tree(
        {"w/a.whl": b"wheel bytes"}
    )
    # With a sink the blocks are needed, so the cache is not consulted.
    with pytest.raises(UnixfsError, match="cannot read"):
        Importer(profile=V1, cache=cache, sink=Blocks()).file_from_path(
            tmp_path / "absent", sha256=sha
        )


# --- directories --------------------------------------------------------------------------


def test_directory_links_sorted_by_bytes_and_symlinks() -> None:
    sink = Blocks()
    importer = Importer(profile=V1, sink=sink)
    file = importer.file_from_bytes(b"x")
    link = importer.symlink("../target")
    ref = importer.directory({"b": file, "a": link, "B": file, "ä": file})
    links, meta = sink.node(ref.cid)
    assert meta.type is DataType.DIRECTORY and meta.data is None
    assert [x.name for x in links] == [b"B", b"a", b"b", "ä".encode()]
    _, target = sink.node(link.cid)
    assert target == UnixfsData(type=DataType.SYMLINK, data=b"../target")


def test_duplicate_and_bad_names_are_refused() -> None:
    importer = Importer(profile=V1)
    ref = importer.file_from_bytes(b"")
    with pytest.raises(UnixfsError, match="two entries"):
        importer.directory({"a": ref, b"a": ref})  # type: ignore[dict-item]
    for bad in ["", ".", "..", "a/b", "a\0b"]:
        with pytest.raises(UnixfsError, match="invalid directory entry name"):
            importer.directory({bad: ref})


def _basic_size(profile: object, names: list[str], ref: DagRef) -> int:
    importer = Importer(profile=dataclasses.replace(profile, hamt_threshold=0))  # type: ignore[type-var]
    sink = Blocks()
    importer.sink = sink
    return len(sink.blocks[importer.directory(dict.fromkeys(names, ref)).cid])


@pytest.mark.parametrize("profile", [V0, V1], ids=lambda p: p.name)
def test_sharding_threshold_is_strictly_greater(profile: object) -> None:
    """Small thresholds put the edge at a few entries; kubo shards only when size > threshold."""
    importer = Importer(profile=profile)  # type: ignore[arg-type]
    ref = importer.file_from_bytes(b"x")
    names = [f"name-{i}" for i in range(10)]
    if profile is V0:
        at = sum(len(n) + len(ref.cid.binary) for n in names)
    else:
        at = _basic_size(profile, names, ref)
    for threshold, sharded in [(at, False), (at - 1, True)]:
        sink = Blocks()
        tuned = dataclasses.replace(profile, hamt_threshold=threshold)  # type: ignore[type-var]
        root = Importer(profile=tuned, sink=sink).directory(dict.fromkeys(names, ref))
        _, meta = sink.node(root.cid)
        assert meta.type is (DataType.HAMT_SHARD if sharded else DataType.DIRECTORY)


def test_subdirectories_count_toward_sharding() -> None:
    tuned = dataclasses.replace(V0, hamt_threshold=100)
    sink = Blocks()
    importer = Importer(profile=tuned, sink=sink)
    empty = importer.directory({})
    root = importer.directory({f"sub{i}": empty for i in range(3)})  # 3 * (4 + 34) > 100
    assert sink.node(root.cid)[1].type is DataType.HAMT_SHARD


def test_hamt_layout() -> None:
    tuned = dataclasses.replace(V1, hamt_threshold=1)
    sink = Blocks()
    importer = Importer(profile=tuned, sink=sink)
    ref = importer.file_from_bytes(b"x")
    names = [f"entry{i}" for i in range(2000)]
    root = importer.directory(dict.fromkeys(names, ref))
    links, meta = sink.node(root.cid)
    assert (meta.type, meta.hash_type, meta.fanout) == (DataType.HAMT_SHARD, 0x22, 256)
    assert meta.data is not None and meta.data[0] != 0  # no leading zero bytes
    bitfield = int.from_bytes(meta.data, "big")
    indexes = [int(link.name[:2], 16) for link in links]
    assert indexes == sorted(indexes) and bitfield == sum(1 << i for i in indexes)
    assert all(link.name[:2] == link.name[:2].upper() for link in links)
    found: dict[bytes, int] = {}

    def walk(cid: Cid, depth: int) -> None:
        for link in sink.node(cid)[0]:
            index = int(link.name[:2], 16)
            if len(link.name) == 2:
                walk(link.cid, depth + 1)
            else:
                name = link.name[2:]
                assert (hamt_hash(name) >> (56 - 8 * depth)) & 0xFF == index
                found[name] = depth

    walk(root.cid, 0)
    assert sorted(found) == sorted(n.encode() for n in names)
    assert max(found.values()) >= 1  # 2000 entries in 256 buckets must collide


# --- trees: memory and disk agree, kubo's rules --------------------------------------------


def test_disk_rules_hidden_skipped_empty_dirs_and_symlinks_kept(tmp_path: Path) -> None:
    (tmp_path / "a b" / "ü").mkdir(parents=True)
    (tmp_path / "a b" / "ü" / "f.txt").write_bytes(b"content")
    (tmp_path / "empty").mkdir()
    (tmp_path / ".hidden").write_bytes(b"secret")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_bytes(b"ref")
    (tmp_path / "only-hidden").mkdir()
    (tmp_path / "only-hidden" / ".x").write_bytes(b"y")
    (tmp_path / "link").symlink_to("a b/ü/f.txt")
    sink = Blocks()
    importer = Importer(profile=V1, sink=sink)
    root = importer.add_path(tmp_path)
    assert [x.name for x in sink.node(root.cid)[0]] == [b"a b", b"empty", b"link", b"only-hidden"]
    expected = importer.add_tree(
        {
            "a b/ü/f.txt": b"content",
            "empty": None,
            "only-hidden": None,
            "link": importer.symlink("a b/ü/f.txt"),
        }
    )
    assert root == expected


def test_top_level_symlink_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("dir/")
    importer = Importer(profile=V1)
    assert importer.add_path(tmp_path / "link") == importer.symlink("dir/")


def test_hidden_names_refused_in_memory() -> None:
    with pytest.raises(UnixfsError, match="hidden") as e:
        cid_of_tree({"pkg/.DS_Store": b""})
    assert "skips hidden" in e.value.fix


def test_tree_conflicts_are_refused() -> None:
    with pytest.raises(UnixfsError, match="both a file and a directory"):
        cid_of_tree({"a": b"1", "a/b": b"2"})
    with pytest.raises(UnixfsError, match="appears twice"):
        cid_of_tree({"a": b"1", "/a": b"2"})


_names = st.text(st.characters(codec="utf-8", exclude_characters="/\0."), min_size=1, max_size=8)
_trees = st.recursive(
    st.binary(max_size=40),
    lambda children: st.dictionaries(_names, children, max_size=5),
    max_leaves=12,
)


def _write(path: Path, node: object) -> dict[str, object]:
    """Lay `node` out under `path`; return the same tree as add_tree's flat mapping."""
    flat: dict[str, object] = {}
    if isinstance(node, bytes):
        path.write_bytes(node)
        return {path.name: node}
    assert isinstance(node, dict)
    path.mkdir()
    if not node:
        flat[path.name] = None
    for name, child in node.items():
        for sub, value in _write(path / name, child).items():
            flat[f"{path.name}/{sub}"] = value
    return flat


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(_names, _trees, max_size=6))
def test_memory_tree_equals_disk_tree(
    tmp_path_factory: pytest.TempPathFactory, tree: dict[str, object]
) -> None:
    root = tmp_path_factory.mktemp("tree") / "root"
    flat = _write(root, tree)
    mapping = {k.removeprefix("root/"): v for k, v in flat.items() if k != "root"}
    importer = Importer(profile=SMALL_PB)
    assert importer.add_tree(mapping) == importer.add_path(root)  # type: ignore[arg-type]


# --- encoders -------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_varint_round_trip(n: int) -> None:
    encoded = varint(n)
    assert read_varint(encoded + b"tail") == (n, len(encoded))


@given(st.binary(min_size=32, max_size=32), st.sampled_from([(0, DAG_PB), (1, DAG_PB), (1, RAW)]))
def test_cid_text_round_trip(digest: bytes, kind: tuple[int, int]) -> None:
    cid = Cid.sha256(kind[0], kind[1], digest)
    text = str(cid)
    assert text.startswith("Qm" if kind[0] == 0 else "baf")
    assert Cid.parse(text) == cid
    assert (cid.version, cid.codec, cid.digest) == (kind[0], kind[1], digest)


_cids = st.builds(
    lambda d, raw: Cid.sha256(1, RAW if raw else DAG_PB, d),
    st.binary(min_size=32, max_size=32),
    st.booleans(),
)
_links = st.lists(
    st.builds(PBLink, cid=_cids, name=st.binary(max_size=20), tsize=st.integers(0, 2**40)),
    max_size=5,
)


@given(_links, st.none() | st.binary(max_size=50))
def test_dagpb_round_trip(links: list[PBLink], data: bytes | None) -> None:
    node = decode_dagpb(encode_dagpb(links, data))
    assert (list(node.links), node.data) == (links, data)


@given(
    st.builds(
        UnixfsData,
        type=st.sampled_from(DataType),
        data=st.none() | st.binary(max_size=30),
        filesize=st.none() | st.integers(0, 2**50),
        blocksizes=st.lists(st.integers(0, 2**30), max_size=4).map(tuple),
        hash_type=st.none() | st.just(0x22),
        fanout=st.none() | st.sampled_from([8, 256, 1024]),
    )
)
def test_unixfs_round_trip(meta: UnixfsData) -> None:
    assert decode_unixfs(encode_unixfs(meta)) == meta


def test_decoder_rejects_data_before_links() -> None:
    data_then_link = b"\x0a\x02\x08\x01" + encode_dagpb(
        [PBLink(cid=Cid.of(1, RAW, b""), name=b"", tsize=0)], None
    )
    with pytest.raises(ValueError, match="Links must precede Data"):
        decode_dagpb(data_then_link)


# --- the command -----------------------------------------------------------------------------


def test_cli_prints_the_cid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_bytes(b"hello world")
    assert cli.main(["cid", str(tmp_path / "f")]) == 0
    assert (
        capsys.readouterr().out.strip()
        == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    )
    assert cli.main(["cid", "--profile", "unixfs-v0-2015", str(tmp_path / "f")]) == 0
    assert capsys.readouterr().out.strip() == "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
    assert cli.main(["cid", "--profile", "nope", str(tmp_path)]) == 2
    assert "fix: use one of" in capsys.readouterr().err
    assert cli.main(["cid", str(tmp_path / "missing")]) == 2
