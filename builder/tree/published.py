"""A published tree read back: from a directory, a CAR file, a CID or an IPNS name, with
every block checked against its CID and every file against `manifest.json`.

The auditor (`verify`), the store's seeding (`build --from`, `seed`), `diff` and
`derive` all start here, so they all trust a published tree the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.errors import IpwhlError, TamperedError, UnpackError
from builder.ipfs.car import BlockStore
from builder.ipfs.multiformats import Cid
from builder.ipfs.unpack import fetch_car, load_car, unpack
from builder.pipeline.fetch import sha256_file
from builder.tree.layout import FARM_DIR, SOURCES_DIR
from builder.tree.manifest import MANIFEST, load_manifest


@dataclass(frozen=True, kw_only=True)
class Published:
    tree: Path
    root: str  # the root CID, "" for a directory (its CID is not computed to read it)
    manifest: dict[str, Any]


def _car_url(source: str, *, api: str, gateway: str | None) -> tuple[str, str, Cid | None]:
    """(URL, HTTP method, the root the answer must have: None for an IPNS name)."""
    if source.startswith(("http://", "https://")):
        _, _, path = source.partition("/ipfs/")
        if path:
            return f"{source.rstrip('/')}?format=car", "GET", Cid.parse(path.split("/")[0])
        if "/ipns/" in source:
            return f"{source.rstrip('/')}?format=car", "GET", None
        raise UnpackError(
            f"{source} names neither /ipfs/CID nor /ipns/NAME",
            fix="give a gateway URL such as http://127.0.0.1:8080/ipfs/<cid>",
        )
    if source.startswith("/ipns/"):
        if not gateway:
            raise UnpackError(
                f"{source}: an IPNS name is read through a gateway",
                fix="pass --gateway http://127.0.0.1:8080 (or a public gateway)",
            )
        return f"{gateway.rstrip('/')}{source}?format=car", "GET", None
    wanted = Cid.parse(source.removeprefix("/ipfs/"))
    if gateway:
        return f"{gateway.rstrip('/')}/ipfs/{wanted}?format=car", "GET", wanted
    return f"{api.rstrip('/')}/api/v0/dag/export?arg={wanted}", "POST", wanted


def materialize(source: str, work: Path, *, api: str, gateway: str | None) -> tuple[Path, str]:
    """The tree SOURCE names, on disk, and its root CID. A CID, an IPNS name or a CAR is
    unpacked block by verified block into `work/tree`; a directory is used where it is."""
    path = Path(source)
    if path.is_dir():
        return path, ""
    with BlockStore(work) as store:
        if path.is_file():
            with path.open("rb") as stream:
                roots = load_car(stream, store)
            wanted: Cid | None = roots[0] if roots else None
        else:
            url, method, wanted = _car_url(source, api=api, gateway=gateway)
            roots = fetch_car(url, store, method=method)
        if not roots or (wanted is not None and roots[0] != wanted):
            raise UnpackError(
                f"{source} does not hold the root {wanted}", fix="check the CID or CAR file"
            )
        tree = work / "tree"
        unpack(roots[0], store.get, tree)
    return tree, str(roots[0])


def read_manifest(tree: Path) -> dict[str, Any]:
    path = tree / MANIFEST
    if not path.is_file():
        raise IpwhlError(
            f"{tree} has no {MANIFEST}",
            fix="point at the root of a tree made by `ipwhl assemble`",
        )
    return load_manifest(path.read_bytes(), where=str(path))


def check_files(tree: Path, manifest: dict[str, Any]) -> None:
    """Every wheel, recipe, patch and sdist must hash to what the manifest says."""
    bad: list[str] = []

    def expect(relative: str, sha256: str) -> None:
        path = tree / relative
        if not path.is_file():
            bad.append(f"{relative}: missing")
        elif sha256_file(path) != sha256:
            bad.append(f"{relative}: sha256 is not the manifest's {sha256}")

    for project, entry in sorted(manifest["projects"].items()):
        base = f"{SOURCES_DIR}/{project}"
        expect(f"{base}/{project}.toml", entry["recipe_sha256"])
        for name, sha in sorted(entry.get("patches", {}).items()):
            expect(f"{base}/patches/{name}", sha)
        expect(f"{base}/{entry['sdist']['filename']}", entry["sdist"]["sha256"])
        for platform, wheel in sorted(entry["platforms"].items()):
            expect(f"{project}/{wheel['wheel']}", wheel["sha256"])
            expect(f"_platforms/{platform}/{project}/{wheel['wheel']}", wheel["sha256"])
    for relative, sha in sorted(manifest.get("farm", {}).items()):
        expect(f"{SOURCES_DIR}/{FARM_DIR}/{relative}", sha)
    if bad:
        raise TamperedError(
            f"{len(bad)} file(s) of {tree} do not match its manifest:\n"
            + "\n".join(f"    {line}" for line in bad),
            fix="do not trust this tree; fetch it again by its CID, which verifies every block",
        )


def open_published(source: str, work: Path, *, api: str, gateway: str | None) -> Published:
    """Materialize, read the manifest, check every file: the one way in."""
    tree, root = materialize(source, work, api=api, gateway=gateway)
    manifest = read_manifest(tree)
    check_files(tree, manifest)
    return Published(tree=tree, root=root, manifest=manifest)
