"""UnixFS DAGs built in-process, byte for byte as kubo (>= 0.40) builds them.

A file is cut into fixed-size chunks; the leaves are raw blocks or dag-pb UnixFS
`File` nodes (by profile) and are gathered under a balanced tree of `File` nodes
with at most `file-max-links` children each. A directory is one dag-pb node whose
links are sorted by name, unless its size estimate exceeds the profile's threshold:
then it is a HAMT (fanout 256, murmur3-x64-64 of the name, bucket at depth k taken
from byte k of the big-endian hash).

The messages are encoded by `builder.dagpb`; a dag-pb leaf is hashed in pieces
around the chunk so that the chunk is never copied.

`Importer` is the only stateful part. It reports every block it makes to an
optional `BlockSink` (to write a CAR) and can reuse file CIDs from a cache keyed
by the sha256 of the file's content.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import stat
import tomllib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Final, Protocol

import mmh3

from builder.errors import UnixfsError
from builder.ipfs.dagpb import DataType, UnixfsData, encode_link, encode_unixfs
from builder.ipfs.multiformats import DAG_PB, RAW, Cid, varint

PROFILES_RESOURCE: Final = "cid-profiles.toml"
# kubo's HAMT shards are marked with the multicodec of their hash function.
MURMUR3_X64_64: Final = 0x22
# The UnixFS Data of a basic directory: Type = Directory, wrapped as dag-pb Data.
_DIRECTORY_DATA: Final = b"\x0a\x02\x08\x01"


class SizeEstimation(StrEnum):
    """How a directory's size is estimated to decide whether to shard it."""

    LINKS = "links"  # sum of len(name) + len(binary CID) over all entries
    BLOCK = "block"  # the exact size of the would-be basic directory block


@dataclass(frozen=True, kw_only=True)
class CidProfile:
    """Every import parameter that changes a CID (IPIP-499)."""

    name: str
    description: str
    cid_version: int
    hash: str
    raw_leaves: bool
    chunk_size: int
    file_max_links: int
    hamt_fanout: int
    hamt_threshold: int
    hamt_size_estimation: SizeEstimation

    def problems(self) -> list[str]:
        found = []
        if self.cid_version not in (0, 1):
            found.append(f"cid-version must be 0 or 1, not {self.cid_version}")
        if self.hash != "sha2-256":
            found.append(f"hash must be sha2-256 (the only one supported), not {self.hash!r}")
        if self.raw_leaves and self.cid_version == 0:
            found.append("raw-leaves needs cid-version 1 (a CIDv0 is always dag-pb)")
        # kubo caps chunks at 2 MiB - 256 bytes so that a wrapped leaf fits in a block.
        if not 1 <= self.chunk_size <= 2 * 1024 * 1024 - 256:
            found.append(f"chunk-size must be in 1..2096896, not {self.chunk_size}")
        if self.file_max_links < 2:
            found.append(f"file-max-links must be at least 2, not {self.file_max_links}")
        fanout = self.hamt_fanout
        if not (8 <= fanout <= 1024 and fanout & (fanout - 1) == 0):
            found.append(f"hamt-fanout must be a power of two in 8..1024, not {fanout}")
        if self.hamt_threshold < 0:
            found.append(f"hamt-threshold must be >= 0 (0: never shard), not {self.hamt_threshold}")
        return found


@dataclass(frozen=True, kw_only=True)
class ProfileSet:
    default: str
    profiles: Mapping[str, CidProfile]


@functools.cache
def load_profiles() -> ProfileSet:
    """The profiles shipped in `builder/data/cid-profiles.toml`, checked on load."""
    text = resources.files("builder").joinpath("data", PROFILES_RESOURCE).read_text("utf-8")
    raw = tomllib.loads(text)
    profiles: dict[str, CidProfile] = {}
    problems: list[str] = []
    for name, table in raw.get("profiles", {}).items():
        try:
            profile = CidProfile(
                name=name,
                description=table.get("description", ""),
                cid_version=table["cid-version"],
                hash=table["hash"],
                raw_leaves=table["raw-leaves"],
                chunk_size=table["chunk-size"],
                file_max_links=table["file-max-links"],
                hamt_fanout=table["hamt-fanout"],
                hamt_threshold=table["hamt-threshold"],
                hamt_size_estimation=SizeEstimation(table["hamt-size-estimation"]),
            )
        except (KeyError, ValueError) as e:
            problems.append(f"profile {name}: missing or invalid field {e}")
            continue
        problems += [f"profile {name}: {p}" for p in profile.problems()]
        profiles[name] = profile
    default = raw.get("default", "")
    if default not in profiles:
        problems.append(f"default profile {default!r} is not defined")
    if problems:
        raise UnixfsError(
            f"{PROFILES_RESOURCE} is invalid:\n  " + "\n  ".join(problems),
            fix=f"correct builder/data/{PROFILES_RESOURCE}",
        )
    return ProfileSet(default=default, profiles=profiles)


def get_profile(name: str | None = None) -> CidProfile:
    """The named profile, or the default one (unixfs-v1-2025)."""
    loaded = load_profiles()
    name = name or loaded.default
    try:
        return loaded.profiles[name]
    except KeyError:
        raise UnixfsError(
            f"unknown CID profile {name!r}",
            fix=f"use one of: {', '.join(sorted(loaded.profiles))}",
        ) from None


# --- dag-pb and UnixFS encoding -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DagRef:
    """What a parent needs of a child: its CID and its Tsize (total DAG bytes under it)."""

    cid: Cid
    tsize: int


def hamt_hash(name: bytes) -> int:
    """The 64 bits kubo's HAMT indexes by: the first half of murmur3 x64 128, seed 0."""
    return int(mmh3.hash64(name, signed=False)[0])


# --- the importer ------------------------------------------------------------------------


class BlockSink(Protocol):
    def put(self, cid: Cid, block: bytes) -> None: ...


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


@dataclass(frozen=True, kw_only=True)
class LocalFile:
    """A file on disk, with its content's sha256 when the caller already knows it."""

    path: Path
    sha256: str | None = None


# A tree in memory: relative POSIX path -> content. None is an (empty) directory;
# a DagRef splices in a subtree or file already imported (its blocks are not re-emitted).
TreeSource = bytes | Path | LocalFile | DagRef | None


def _fill(stream: Readable, view: memoryview) -> int:
    """Read until `view` is full or the stream ends (pipes return short reads)."""
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def _name_bytes(name: str | bytes) -> bytes:
    raw = os.fsencode(name)
    if not raw or raw in (b".", b"..") or b"/" in raw or b"\0" in raw:
        raise UnixfsError(
            f"invalid directory entry name {name!r}",
            fix="entry names are non-empty, not '.' or '..', and contain no '/' or NUL",
        )
    return raw


@dataclass(kw_only=True)
class Importer:
    """Builds UnixFS DAGs for one profile; see the module docstring."""

    profile: CidProfile = field(default_factory=get_profile)
    sink: BlockSink | None = None
    # Keys are "<profile>/<sha256 hex>"; only consulted when no sink wants the blocks.
    cache: MutableMapping[str, DagRef] | None = None

    def __post_init__(self) -> None:
        self._buffer = bytearray(self.profile.chunk_size)
        fanout = self.profile.hamt_fanout
        self._hamt_bits = fanout.bit_length() - 1
        self._hamt_width = len(f"{fanout - 1:X}")

    # -- blocks

    def _dagpb(self, block: bytes) -> Cid:
        cid = Cid.of(self.profile.cid_version, DAG_PB, block)
        if self.sink is not None:
            self.sink.put(cid, block)
        return cid

    def _leaf(self, chunk: memoryview) -> tuple[DagRef, int]:
        n = len(chunk)
        if self.profile.raw_leaves:
            cid = Cid.sha256(1, RAW, hashlib.sha256(chunk).digest())
            if self.sink is not None:
                self.sink.put(cid, bytes(chunk))
            return DagRef(cid=cid, tsize=n), n
        # A dag-pb File leaf: hashed as head + chunk + tail so the chunk is never copied.
        unixfs_head = b"\x08\x02\x12" + varint(n) if n else b"\x08\x02"
        tail = b"\x18" + varint(n)
        head = b"\x0a" + varint(len(unixfs_head) + n + len(tail)) + unixfs_head
        digest = hashlib.sha256(head)
        digest.update(chunk)
        digest.update(tail)
        cid = Cid.sha256(self.profile.cid_version, DAG_PB, digest.digest())
        if self.sink is not None:
            self.sink.put(cid, head + bytes(chunk) + tail)
        return DagRef(cid=cid, tsize=len(head) + n + len(tail)), n

    def _file_node(self, children: list[tuple[DagRef, int]]) -> tuple[DagRef, int]:
        total = sum(size for _, size in children)
        sizes = [b"\x20" + varint(size) for _, size in children]
        meta = b"".join([b"\x08\x02\x18", varint(total), *sizes])
        links = [encode_link(ref.cid, b"", ref.tsize) for ref, _ in children]
        block = b"".join([*links, b"\x0a", varint(len(meta)), meta])
        tsize = len(block) + sum(ref.tsize for ref, _ in children)
        return DagRef(cid=self._dagpb(block), tsize=tsize), total

    def _balanced(self, leaves: list[tuple[DagRef, int]]) -> DagRef:
        # Grouping bottom-up gives the tree kubo's balanced builder grows top-down:
        # every child full except the last, and a lone leaf is its own root.
        width = self.profile.file_max_links
        level = leaves
        while len(level) > 1:
            level = [self._file_node(level[i : i + width]) for i in range(0, len(level), width)]
        return level[0][0]

    # -- files and symlinks

    def file_from_bytes(self, data: bytes) -> DagRef:
        view = memoryview(data)
        size = self.profile.chunk_size
        starts = range(0, len(data) or 1, size)
        return self._balanced([self._leaf(view[i : i + size]) for i in starts])

    def file_from_stream(self, stream: Readable, *, digest: Any = None) -> DagRef:
        """Chunk a stream; `digest` (a hashlib object) also sees every byte, if given."""
        view = memoryview(self._buffer)
        size = len(view)
        leaves: list[tuple[DagRef, int]] = []
        while True:
            n = _fill(stream, view)
            if n == 0 and leaves:
                break
            if digest is not None:
                digest.update(view[:n])
            leaves.append(self._leaf(view[:n]))
            if n < size:
                break
        return self._balanced(leaves)

    def _cache_key(self, sha256: str) -> str:
        return f"{self.profile.name}/{sha256.lower()}"

    def file_from_path(self, path: str | os.PathLike[str], *, sha256: str | None = None) -> DagRef:
        use_cache = self.cache is not None and self.sink is None
        if use_cache and sha256 is not None:
            assert self.cache is not None
            hit = self.cache.get(self._cache_key(sha256))
            if hit is not None:
                return hit
        digest = hashlib.sha256() if self.cache is not None and sha256 is None else None
        try:
            with Path(path).open("rb", buffering=0) as stream:
                ref = self.file_from_stream(stream, digest=digest)
        except OSError as e:
            raise UnixfsError(f"cannot read {path}: {e.strerror}", fix="check the path") from e
        if self.cache is not None:
            key = sha256 if digest is None else digest.hexdigest()
            assert key is not None
            self.cache[self._cache_key(key)] = ref
        return ref

    def symlink(self, target: str | bytes) -> DagRef:
        meta = encode_unixfs(UnixfsData(type=DataType.SYMLINK, data=os.fsencode(target)))
        block = b"\x0a" + varint(len(meta)) + meta
        return DagRef(cid=self._dagpb(block), tsize=len(block))

    # -- directories

    def directory(self, entries: Mapping[str, DagRef] | Mapping[bytes, DagRef]) -> DagRef:
        """A directory of already-imported children: basic, or a HAMT past the threshold."""
        items = sorted(((_name_bytes(n), ref) for n, ref in entries.items()), key=lambda i: i[0])
        for (a, _), (b, _) in itertools.pairwise(items):
            if a == b:
                raise UnixfsError(f"two entries named {a!r}", fix="give each entry its own name")
        links = [encode_link(ref.cid, name, ref.tsize) for name, ref in items]
        if self._needs_sharding(items, links):
            return self._shard([(hamt_hash(name), name, ref) for name, ref in items], 0)
        block = b"".join(links) + _DIRECTORY_DATA
        tsize = len(block) + sum(ref.tsize for _, ref in items)
        return DagRef(cid=self._dagpb(block), tsize=tsize)

    def _needs_sharding(self, items: list[tuple[bytes, DagRef]], links: list[bytes]) -> bool:
        threshold = self.profile.hamt_threshold
        # Every entry counts, sub-directories included (kubo >= 0.40), and only a size
        # strictly above the threshold shards. (kubo 0.43 strays from its own rule in
        # one band: a directory holding sub-directories within ~len(name) + 2 bytes
        # above the threshold flips between HAMT and basic while MFS flushes it; see
        # test_kubo_quirk_subdirectories_just_over_threshold.)
        return threshold != 0 and self._directory_size(items, links) > threshold

    def _directory_size(self, items: list[tuple[bytes, DagRef]], links: list[bytes]) -> int:
        """The size the profile compares with its HAMT threshold."""
        if self.profile.hamt_size_estimation is SizeEstimation.LINKS:
            return sum(len(name) + len(ref.cid.binary) for name, ref in items)
        return len(_DIRECTORY_DATA) + sum(map(len, links))

    def _shard(self, keyed: list[tuple[int, bytes, DagRef]], depth: int) -> DagRef:
        bits = self._hamt_bits
        shift = 64 - (depth + 1) * bits
        if shift < 0:
            names = ", ".join(repr(name) for _, name, _ in keyed)
            raise UnixfsError(
                f"names with equal 64-bit HAMT hashes cannot be sharded: {names}",
                fix="rename one of them (kubo fails on these names too)",
            )
        mask = self.profile.hamt_fanout - 1
        buckets: dict[int, list[tuple[int, bytes, DagRef]]] = {}
        for entry in keyed:
            buckets.setdefault((entry[0] >> shift) & mask, []).append(entry)
        links: list[bytes] = []
        bitfield = total = 0
        for index in sorted(buckets):
            bucket = buckets[index]
            bitfield |= 1 << index
            prefix = f"{index:0{self._hamt_width}X}".encode("ascii")
            if len(bucket) == 1:
                _, name, ref = bucket[0]
                links.append(encode_link(ref.cid, prefix + name, ref.tsize))
            else:
                ref = self._shard(bucket, depth + 1)
                links.append(encode_link(ref.cid, prefix, ref.tsize))
            total += ref.tsize
        meta = encode_unixfs(UnixfsData(
            type=DataType.HAMT_SHARD,
            # Big-endian bitfield without leading zero bytes, as go-bitfield writes it.
            data=bitfield.to_bytes((bitfield.bit_length() + 7) // 8, "big"),
            hash_type=MURMUR3_X64_64, fanout=self.profile.hamt_fanout,
        ))  # fmt: skip
        block = b"".join([*links, b"\x0a", varint(len(meta)), meta])
        return DagRef(cid=self._dagpb(block), tsize=len(block) + total)

    # -- whole trees

    def add_path(self, path: str | os.PathLike[str]) -> DagRef:
        """What `ipfs add -r PATH` adds: hidden entries skipped, empty dirs and symlinks kept
        (PATH itself too: a symlink is added as a symlink, and PATH is added even if hidden)."""
        try:
            mode = Path(path).lstat().st_mode
        except OSError as e:
            raise UnixfsError(f"cannot read {path}: {e.strerror}", fix="check the path") from e
        if stat.S_ISLNK(mode):
            # kubo adds a symlink argument as a symlink, not what it points to.
            return self.symlink(os.readlink(path))  # noqa: PTH115 (Path would normalize it)
        if stat.S_ISDIR(mode):
            return self._add_dir(os.fspath(path))
        if stat.S_ISREG(mode):
            return self.file_from_path(path)
        raise UnixfsError(f"{path} is not a file or directory", fix="pass a file or directory")

    def _add_dir(self, path: str) -> DagRef:
        entries: dict[bytes, DagRef] = {}
        try:
            with os.scandir(path) as listing:
                found = sorted(listing, key=lambda e: e.name)
        except OSError as e:
            raise UnixfsError(f"cannot list {path}: {e.strerror}", fix="check permissions") from e
        for entry in found:
            if entry.name.startswith("."):
                continue  # kubo adds hidden files only with --hidden
            name = os.fsencode(entry.name)
            if entry.is_symlink():
                # os.readlink, not Path.readlink: a Path would normalize "./x" or "d/".
                entries[name] = self.symlink(os.readlink(entry.path))  # noqa: PTH115
            elif entry.is_dir(follow_symlinks=False):
                entries[name] = self._add_dir(entry.path)
            elif entry.is_file(follow_symlinks=False):
                entries[name] = self.file_from_path(entry.path)
            else:
                raise UnixfsError(
                    f"{entry.path} is not a file, directory or symlink",
                    fix="remove it from the tree (kubo refuses special files too)",
                )
        return self.directory(entries)

    def add_tree(self, tree: Mapping[str, TreeSource]) -> DagRef:
        """Import an in-memory tree: {"a/b.txt": b"...", "a/empty": None, "c": Path(...)}.

        Hidden names are refused rather than skipped: the CID must be the one kubo
        gives for this tree once it is written to disk, where kubo would skip them.
        """
        root: dict[str, Any] = {}
        for path, source in tree.items():
            parts = path.strip("/").split("/")
            for part in parts:
                _name_bytes(part)
                if part.startswith("."):
                    raise UnixfsError(
                        f"hidden name {part!r} in {path!r}",
                        fix="leave it out: `ipfs add -r` skips hidden files, so no CID has it",
                    )
            node = root
            for depth, part in enumerate(parts[:-1]):
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise UnixfsError(
                        f"{'/'.join(parts[: depth + 1])!r} is both a file and a directory",
                        fix="give the file and the directory different paths",
                    )
                node = child
            last = parts[-1]
            if source is None:
                if not isinstance(node.setdefault(last, {}), dict):
                    raise UnixfsError(f"{path!r} is both a file and a directory", fix="rename one")
            elif last in node:
                raise UnixfsError(f"{path!r} appears twice in the tree", fix="keep one of them")
            else:
                node[last] = source
        return self._nested(root)

    def _nested(self, node: Any) -> DagRef:
        if isinstance(node, dict):
            return self.directory({name: self._nested(child) for name, child in node.items()})
        if isinstance(node, DagRef):
            return node
        if isinstance(node, bytes):
            return self.file_from_bytes(node)
        if isinstance(node, LocalFile):
            return self.file_from_path(node.path, sha256=node.sha256)
        return self.add_path(node)


def cid_of_path(path: str | os.PathLike[str], profile: str | None = None) -> Cid:
    """The CID `ipfs add -r --only-hash -Q PATH` prints under that profile."""
    return Importer(profile=get_profile(profile)).add_path(path).cid


def cid_of_tree(tree: Mapping[str, TreeSource], profile: str | None = None) -> Cid:
    return Importer(profile=get_profile(profile)).add_tree(tree).cid
