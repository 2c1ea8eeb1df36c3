"""CARv1 files: a DAG's blocks in one file, as `ipfs dag import` takes them.

Layout: varint-prefixed dag-cbor header {"roots": [CID...], "version": 1}, then one
varint-prefixed section per block, CID bytes followed by block bytes. The header is
tiny and fixed in shape, so it is encoded and decoded by hand.

Blocks are written root first, depth first, links in order, each block once: the
order `ipfs dag export` uses, so a reader can stream the DAG top-down, and the same
DAG always gives the same bytes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final, Self

from builder.atomic import atomic_path
from builder.errors import CarError
from builder.ipfs.dagpb import links_of
from builder.ipfs.multiformats import Cid, read_varint, varint

CAR_VERSION: Final = 1
# dag-cbor tag for a CID; its byte string starts with 0x00 (the identity multibase).
_CID_TAG: Final = 42
# No block kubo makes or takes is larger (2 MiB); a section claiming more is corrupt.
MAX_SECTION: Final = 4 * 1024 * 1024


# --- the dag-cbor header ---------------------------------------------------------------


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes((major << 5 | value,))
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes((major << 5 | extra,)) + value.to_bytes(size, "big")
    raise ValueError(f"CBOR value too large: {value}")


def encode_header(roots: Sequence[Cid]) -> bytes:
    """The header block, in dag-cbor's canonical key order ("roots" sorts before "version")."""
    parts = [_cbor_head(5, 2), _cbor_head(3, 5), b"roots", _cbor_head(4, len(roots))]
    for root in roots:
        payload = b"\0" + root.binary
        parts += [_cbor_head(6, _CID_TAG), _cbor_head(2, len(payload)), payload]
    parts += [_cbor_head(3, 7), b"version", _cbor_head(0, CAR_VERSION)]
    return b"".join(parts)


@dataclass
class _CborReader:
    data: bytes
    pos: int = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated CBOR")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def _head(self) -> tuple[int, int]:
        first = self._take(1)[0]
        major, info = first >> 5, first & 31
        if info < 24:
            return major, info
        if info > 27:
            raise ValueError("indefinite lengths are not dag-cbor")
        return major, int.from_bytes(self._take(1 << (info - 24)), "big")

    def value(self) -> object:
        major, arg = self._head()
        if major == 0:
            return arg
        if major in (2, 3):
            raw = self._take(arg)
            return raw if major == 2 else raw.decode("utf-8")
        if major == 4:
            return [self.value() for _ in range(arg)]
        if major == 5:
            out: dict[object, object] = {}
            for _ in range(arg):
                key = self.value()
                if not isinstance(key, str):
                    raise ValueError("dag-cbor map keys are strings")
                out[key] = self.value()
            return out
        if major == 6 and arg == _CID_TAG:
            payload = self.value()
            if not isinstance(payload, bytes) or payload[:1] != b"\0":
                raise ValueError("malformed CID in tag 42")
            cid, end = Cid.decode(payload, 1)
            if end != len(payload):
                raise ValueError("trailing bytes after CID")
            return cid
        raise ValueError(f"unsupported CBOR major type {major}")


def decode_header(data: bytes) -> list[Cid]:
    """The roots of a CARv1 header; anything but version 1 with CID roots is refused."""
    try:
        reader = _CborReader(data)
        header = reader.value()
        if reader.pos != len(data):
            raise ValueError("trailing bytes after the header")
    except ValueError as e:
        raise CarError(f"malformed CAR header: {e}", fix="regenerate the CAR file") from e
    if not isinstance(header, dict) or header.get("version") != CAR_VERSION:
        raise CarError(
            "not a CARv1 header", fix="only CARv1 is supported; convert with `ipfs dag export`"
        )
    roots = header.get("roots")
    if not isinstance(roots, list) or not all(isinstance(r, Cid) for r in roots):
        raise CarError("CAR header roots must be a list of CIDs", fix="regenerate the CAR file")
    return roots


# --- blocks --------------------------------------------------------------------------


class BlockStore:
    """Blocks as the importer makes them, spooled to a temporary file, not to memory.

    A farm tree is gigabytes; holding it in memory to reorder it for the CAR is not
    an option, and a second pass over the source files could see changed bytes.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self._spool = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 (closed by close())
        self._index: dict[bytes, tuple[int, int]] = {}
        self._end = 0

    def put(self, cid: Cid, block: bytes) -> None:
        if cid.binary in self._index:
            return  # the same content twice (e.g. a wheel under two paths) is one block
        self._spool.seek(self._end)
        self._spool.write(block)
        self._index[cid.binary] = (self._end, len(block))
        self._end += len(block)

    def get(self, cid: Cid) -> bytes:
        try:
            offset, length = self._index[cid.binary]
        except KeyError:
            raise CarError(
                f"block {cid} is not in the store",
                fix="import the whole tree with the block sink; cached file CIDs carry no blocks",
            ) from None
        self._spool.seek(offset)
        return self._spool.read(length)

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, Cid) and cid.binary in self._index

    def __len__(self) -> int:
        return len(self._index)

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def dag_blocks(root: Cid, store: BlockStore) -> Iterator[tuple[Cid, bytes]]:
    """Every block under `root`: pre-order, depth first, links in order, each once."""
    seen: set[bytes] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid.binary in seen:
            continue
        seen.add(cid.binary)
        block = store.get(cid)
        yield cid, block
        try:
            children = links_of(cid, block)
        except ValueError as e:
            raise CarError(f"block {cid} is not valid dag-pb: {e}", fix="report a bug") from e
        stack.extend(reversed(children))


# --- writing and reading ---------------------------------------------------------------


def write_car(out: BinaryIO, roots: Sequence[Cid], blocks: Iterable[tuple[Cid, bytes]]) -> int:
    """Write a CARv1 stream; duplicate blocks are written once. Returns the block count."""
    header = encode_header(roots)
    out.write(varint(len(header)) + header)
    written: set[bytes] = set()
    for cid, block in blocks:
        if cid.binary in written:
            continue
        written.add(cid.binary)
        out.write(varint(len(cid.binary) + len(block)))
        out.write(cid.binary)
        out.write(block)
    return len(written)


def write_dag_car(path: Path, root: Cid, store: BlockStore) -> int:
    """Write the DAG under `root` to `path` atomically: readers see the old file or the new."""
    with atomic_path(path) as tmp, tmp.open("wb") as out:
        count = write_car(out, [root], dag_blocks(root, store))
    return count


def _read_varint(stream: BinaryIO) -> int | None:
    """A varint from the stream; None at a clean end of file."""
    raw = bytearray()
    while True:
        byte = stream.read(1)
        if not byte:
            if raw:
                raise CarError("CAR ends inside a length prefix", fix="the file is truncated")
            return None
        raw += byte
        if byte[0] < 0x80:
            break
        if len(raw) > 9:
            raise CarError("CAR length prefix is too long", fix="the file is corrupt")
    try:
        return read_varint(bytes(raw))[0]
    except ValueError as e:
        raise CarError(f"bad CAR length prefix: {e}", fix="the file is corrupt") from e


def _read_exactly(stream: BinaryIO, n: int, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise CarError(f"CAR ends inside {what}", fix="the file is truncated")
    return data


@dataclass(frozen=True, kw_only=True)
class CarReader:
    """Reads a CARv1 stream: `roots` at once, then blocks on iteration, each verified."""

    roots: list[Cid]
    stream: BinaryIO

    @classmethod
    def open(cls, stream: BinaryIO) -> CarReader:
        length = _read_varint(stream)
        if length is None or length == 0:
            raise CarError("empty CAR file", fix="the file is truncated")
        header = _read_exactly(stream, length, "the header")
        return cls(roots=decode_header(header), stream=stream)

    def __iter__(self) -> Iterator[tuple[Cid, bytes]]:
        while (length := _read_varint(self.stream)) is not None:
            if not 0 < length <= MAX_SECTION:
                raise CarError(f"CAR section of {length} bytes", fix="the file is corrupt")
            section = _read_exactly(self.stream, length, "a block")
            try:
                cid, start = Cid.decode(section)
            except ValueError as e:
                raise CarError(f"bad CID in CAR section: {e}", fix="the file is corrupt") from e
            block = section[start:]
            if not cid.verify(block):
                raise CarError(f"block {cid} does not match its CID", fix="the file is corrupt")
            yield cid, block


def read_car(path: Path) -> tuple[list[Cid], dict[Cid, bytes]]:
    """Read a whole (small) CAR file into memory; for tests and inspection."""
    with path.open("rb") as stream:
        reader = CarReader.open(stream)
        return reader.roots, dict(reader)
