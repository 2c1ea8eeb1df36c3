"""Read a published tree back out of IPFS blocks: the auditor's way in.

Whatever the source (a CAR file, a kubo RPC `dag/export`, a gateway's `?format=car`),
every block is checked against its CID as it arrives (CarReader does that), so the
tree written to disk is exactly the tree the CID names, or nothing is written.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from builder.errors import UnpackError
from builder.ipfs.car import BlockStore, CarReader
from builder.ipfs.dagpb import DataType, decode_dagpb, decode_unixfs
from builder.ipfs.multiformats import RAW, Cid

GetBlock = Callable[[Cid], bytes]


def load_car(stream: BinaryIO, store: BlockStore) -> list[Cid]:
    reader = CarReader.open(stream)
    for cid, block in reader:
        store.put(cid, block)
    return reader.roots


def fetch_car(url: str, store: BlockStore, *, method: str = "GET") -> list[Cid]:
    """Stream a CAR from a kubo RPC or gateway URL into `store`."""
    request = urllib.request.Request(
        url, method=method, headers={"Accept": "application/vnd.ipld.car"}
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return load_car(response, store)
    except (urllib.error.URLError, OSError) as e:
        raise UnpackError(
            f"cannot read {url}: {e}",
            fix="check the daemon is running (`ipfs daemon`) and the address is right",
        ) from e


def _file_bytes(cid: Cid, get: GetBlock, out: BinaryIO) -> None:
    block = get(cid)
    if cid.codec == RAW:
        out.write(block)
        return
    node = decode_dagpb(block)
    meta = decode_unixfs(node.data or b"")
    if meta.type not in (DataType.FILE, DataType.RAW):
        raise UnpackError(
            f"{cid} is a {meta.type.name}, not file data",
            fix="the DAG is not a UnixFS file; check the CID",
        )
    if meta.data:
        out.write(meta.data)
    for link in node.links:
        _file_bytes(link.cid, get, out)


def _entries(cid: Cid, get: GetBlock) -> list[tuple[str, Cid]]:
    """A directory's entries, through HAMT shards (names after the 2-hex-digit prefix)."""
    node = decode_dagpb(get(cid))
    meta = decode_unixfs(node.data or b"")
    if meta.type is DataType.DIRECTORY:
        return [(link.name.decode(), link.cid) for link in node.links]
    if meta.type is not DataType.HAMT_SHARD:
        raise UnpackError(f"{cid} is not a directory", fix="check the CID")
    entries: list[tuple[str, Cid]] = []
    for link in node.links:
        name = link.name.decode()
        if len(name) == 2:  # a sub-shard: only its bucket prefix
            entries.extend(_entries(link.cid, get))
        else:
            entries.append((name[2:], link.cid))
    return entries


def unpack(root: Cid, get: GetBlock, dest: Path) -> None:
    """Write the UnixFS DAG at `root` to `dest` (which must not exist), all or nothing."""
    tmp = dest.with_name(f".{dest.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _unpack(root, get, tmp)
        tmp.replace(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _unpack(cid: Cid, get: GetBlock, path: Path) -> None:
    if cid.codec != RAW:
        node = decode_dagpb(get(cid))
        kind = decode_unixfs(node.data or b"").type
        if kind in (DataType.DIRECTORY, DataType.HAMT_SHARD):
            path.mkdir(parents=True)
            for name, child in _entries(cid, get):
                if "/" in name or name in ("", ".", ".."):
                    raise UnpackError(
                        f"entry name {name!r} under {path} is unsafe",
                        fix="this DAG was not made by an IPFS importer",
                    )
                _unpack(child, get, path / name)
            return
        if kind is DataType.SYMLINK:
            raise UnpackError(
                f"{path.name} is a symbolic link; a farm tree has none",
                fix="this is not a tree made by `ipwhl assemble`",
            )
    with path.open("wb") as out:
        _file_bytes(cid, get, out)
