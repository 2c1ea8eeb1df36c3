"""dag-pb and UnixFS protobuf messages, encoded and decoded by hand.

Both formats use a handful of protobuf fields. Writing them directly keeps the
encoding byte-exact with kubo's (field order, which optional fields are present)
and lets the importer hash a file chunk without copying it into a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from builder.ipfs.multiformats import RAW, Cid, read_varint, varint


class DataType(IntEnum):
    """The UnixFS `Data.Type` values."""

    RAW = 0
    DIRECTORY = 1
    FILE = 2
    METADATA = 3
    SYMLINK = 4
    HAMT_SHARD = 5


@dataclass(frozen=True, kw_only=True)
class PBLink:
    cid: Cid
    name: bytes
    tsize: int


@dataclass(frozen=True, kw_only=True)
class PBNode:
    links: tuple[PBLink, ...]
    data: bytes | None


@dataclass(frozen=True, kw_only=True)
class UnixfsData:
    type: DataType
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: tuple[int, ...] = ()
    hash_type: int | None = None
    fanout: int | None = None


def encode_link(cid: Cid, name: bytes, tsize: int) -> bytes:
    """One PBNode.Links entry. kubo always writes Name (even empty) and Tsize."""
    binary = cid.binary
    inner = b"".join(
        (b"\x0a", varint(len(binary)), binary, b"\x12", varint(len(name)), name,
         b"\x18", varint(tsize))
    )  # fmt: skip
    return b"\x12" + varint(len(inner)) + inner


def encode_dagpb(links: tuple[PBLink, ...] | list[PBLink], data: bytes | None) -> bytes:
    """A dag-pb block: Links (field 2) first, then Data (field 1), as the spec orders them."""
    out = [encode_link(link.cid, link.name, link.tsize) for link in links]
    if data is not None:
        out += [b"\x0a", varint(len(data)), data]
    return b"".join(out)


def encode_unixfs(meta: UnixfsData) -> bytes:
    """UnixFS Data, fields in number order as Go's protobuf writes them."""
    out = [b"\x08", varint(meta.type)]
    if meta.data is not None:
        out += [b"\x12", varint(len(meta.data)), meta.data]
    if meta.filesize is not None:
        out += [b"\x18", varint(meta.filesize)]
    for size in meta.blocksizes:
        out += [b"\x20", varint(size)]
    if meta.hash_type is not None:
        out += [b"\x28", varint(meta.hash_type)]
    if meta.fanout is not None:
        out += [b"\x30", varint(meta.fanout)]
    return b"".join(out)


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
            yield number, value
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError(f"field {number} runs past the end of the message")
            yield number, buf[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"field {number} has unsupported wire type {wire}")


def _as_int(value: int | bytes, what: str) -> int:
    if not isinstance(value, int):
        raise ValueError(f"{what} must be a varint")
    return value


def _as_bytes(value: int | bytes, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise ValueError(f"{what} must be length-delimited")
    return value


def decode_dagpb(block: bytes) -> PBNode:
    """Parse a dag-pb block (strictly enough to catch our own encoding mistakes)."""
    links: list[PBLink] = []
    data: bytes | None = None
    for number, value in _fields(block):
        if number == 2 and data is None:
            cid: Cid | None = None
            name, tsize = b"", 0
            for n, v in _fields(_as_bytes(value, "Links")):
                if n == 1:
                    cid, end = Cid.decode(_as_bytes(v, "Hash"))
                    if end != len(_as_bytes(v, "Hash")):
                        raise ValueError("link Hash has trailing bytes")
                elif n == 2:
                    name = _as_bytes(v, "Name")
                elif n == 3:
                    tsize = _as_int(v, "Tsize")
                else:
                    raise ValueError(f"unknown PBLink field {n}")
            if cid is None:
                raise ValueError("link without Hash")
            links.append(PBLink(cid=cid, name=name, tsize=tsize))
        elif number == 1 and data is None:
            data = _as_bytes(value, "Data")
        else:
            raise ValueError(f"unexpected PBNode field {number} (Links must precede Data)")
    return PBNode(links=tuple(links), data=data)


def decode_unixfs(data: bytes) -> UnixfsData:
    values: dict[int, Any] = {}
    blocksizes: list[int] = []
    for number, value in _fields(data):
        if number == 4:
            blocksizes.append(_as_int(value, "blocksizes"))
        elif number == 2:
            values[2] = _as_bytes(value, "Data")
        elif number in (1, 3, 5, 6, 7):
            values[number] = _as_int(value, f"field {number}")
        # mode (7) and mtime (8) are never written by us; accept and ignore them.
    if 1 not in values:
        raise ValueError("UnixFS Data without Type")
    return UnixfsData(
        type=DataType(values[1]), data=values.get(2), filesize=values.get(3),
        blocksizes=tuple(blocksizes), hash_type=values.get(5), fanout=values.get(6),
    )  # fmt: skip


def links_of(cid: Cid, block: bytes) -> list[Cid]:
    """The CIDs a block points to, in link order (raw blocks point nowhere)."""
    if cid.codec == RAW:
        return []
    return [link.cid for link in decode_dagpb(block).links]
