"""Publish an assembled tree: import its CAR into a running kubo, pin it, name it.

Talks to kubo's RPC API over HTTP with the standard library only. The order makes a
half-published tree impossible to report as done:

1. the CAR is streamed to `dag/import` with `pin-roots`, every block checked against
   its CID on the way (a damaged CAR aborts the upload before its root is pinned);
2. the root kubo reports must be the CAR's root, with no pin error;
3. `pin/ls --type=recursive` must list it;
4. only then, if asked, `name/publish` points an IPNS key at `/ipfs/<cid>`;
5. the gateway is asked for the index page, so the URL we print is one that works.

A key named by `--ipns-key` must exist unless `create_key` is set: a typo must not
silently start a new channel that nobody follows. The key `self` always exists.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from builder.errors import CarError, GatewayError, PublishError
from builder.ipfs.car import CarReader, encode_header
from builder.ipfs.gateway import DEFAULT_API, Gateway, multiaddr_to_url, probe_path_gateway
from builder.ipfs.multiformats import Cid, varint

_CHUNK: Final = 1 << 20
_START_HINT: Final = "start it with `ipfs daemon` (in another terminal, or as a service)"


def default_api() -> str:
    """Where the `ipfs` command itself would look: `$IPFS_PATH/api`, else kubo's default."""
    repo = Path(os.environ.get("IPFS_PATH") or Path.home() / ".ipfs")
    try:
        written = (repo / "api").read_text().strip()
    except OSError:
        return DEFAULT_API
    return written or DEFAULT_API


@dataclass(frozen=True, kw_only=True)
class Kubo:
    """A kubo RPC endpoint, e.g. `http://127.0.0.1:5001`."""

    url: str
    timeout: float = 60

    @classmethod
    def at(cls, address: str | None) -> Kubo:
        return cls(url=multiaddr_to_url(address or default_api()))

    def call(
        self,
        command: str,
        params: Mapping[str, str] | None = None,
        *,
        body: Iterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """POST one RPC command; its answer as JSON objects (kubo streams some as lines)."""
        query = urllib.parse.urlencode(params or {})
        url = f"{self.url}/api/v0/{command}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                raw: bytes = response.read()
        except urllib.error.HTTPError as e:
            raise PublishError(
                f"the IPFS node at {self.url} refused `{command}`: {e.code} {_kubo_message(e)}",
                fix=_refusal_fix(e.code),
            ) from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", e)
            raise PublishError(
                f"no IPFS node answers at {self.url} ({reason})",
                fix=f"{_START_HINT}, or pass --api with its RPC address "
                "(`ipfs config Addresses.API` prints it)",
            ) from e
        try:
            return [json.loads(line) for line in raw.splitlines() if line.strip()]
        except ValueError as e:
            raise PublishError(
                f"{self.url} answered `{command}` with something that is not JSON",
                fix="--api must be kubo's RPC address (port 5001 by default), not its gateway",
            ) from e

    def one(self, command: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        answer = self.call(command, params)
        if len(answer) != 1:
            raise PublishError(
                f"`{command}` answered {len(answer)} objects, expected one",
                fix="is this kubo? ipwhl talks to kubo's RPC API",
            )
        return answer[0]


def _kubo_message(error: urllib.error.HTTPError) -> str:
    try:
        body = error.read()
        message = json.loads(body).get("Message")
        return str(message) if message else body.decode(errors="replace").strip()
    except (OSError, ValueError, AttributeError):
        return str(error.reason)


def _refusal_fix(code: int) -> str:
    if code in (401, 403):
        return "the RPC API needs credentials (API.Authorizations) or refuses this origin"
    if code == 404:
        return "--api must be kubo's RPC address (port 5001 by default), not its gateway"
    if code == 405:
        return "is this kubo? its RPC API takes POST requests"
    return "read the message above; `ipfs daemon` logs more"


# --- the CAR upload ----------------------------------------------------------------------


def car_root(path: Path) -> Cid:
    try:
        with path.open("rb") as stream:
            roots = CarReader.open(stream).roots
    except OSError as e:
        raise PublishError(f"cannot read {path}: {e}", fix="run `ipwhl assemble` first") from e
    if len(roots) != 1:
        raise PublishError(
            f"{path} has {len(roots)} roots; a published tree has one",
            fix="publish a CAR written by `ipwhl assemble`",
        )
    return roots[0]


def _verified_car(path: Path) -> Iterator[bytes]:
    """The CAR's bytes, re-framed from verified blocks, batched for the socket.

    A block that does not match its CID raises inside the upload, which aborts the
    request: kubo then never reaches the end of the CAR, so it pins nothing.
    """
    with path.open("rb") as stream:
        reader = CarReader.open(stream)
        header = encode_header(reader.roots)
        batch = bytearray(varint(len(header)) + header)
        for cid, block in reader:
            batch += varint(len(cid.binary) + len(block)) + cid.binary + block
            if len(batch) >= _CHUNK:
                yield bytes(batch)
                batch.clear()
        yield bytes(batch)


def _multipart(path: Path, boundary: str) -> Iterator[bytes]:
    yield (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/vnd.ipld.car\r\n\r\n"
    ).encode()
    yield from _verified_car(path)
    yield f"\r\n--{boundary}--\r\n".encode()


@dataclass(frozen=True, kw_only=True)
class Published:
    cid: str
    blocks: int
    block_bytes: int
    ipns_name: str | None
    ipns_key: str | None
    key_created: bool
    gateway: Gateway
    gateway_problem: str | None  # None: the index page answered through the gateway

    @property
    def index_url(self) -> str:
        return self.gateway.index_url(self.cid)


def import_car(kubo: Kubo, car: Path, *, timeout: float = 3600) -> tuple[str, int, int]:
    """`dag/import` with the roots pinned; return (root CID, blocks, bytes)."""
    expected = str(car_root(car))
    boundary = uuid.uuid4().hex
    # No Content-Length: urllib sends an iterator with chunked transfer encoding, so
    # the CAR is verified and sent in one pass, never held in memory.
    try:
        answer = kubo.call(
            "dag/import",
            {"pin-roots": "true", "stats": "true"},
            body=_multipart(car, boundary),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=timeout,
        )
    except CarError as e:
        raise PublishError(
            f"{car} is damaged; the upload was aborted before anything was pinned: {e.message}",
            fix="assemble again (`ipwhl assemble`) and publish the new CAR",
        ) from e
    roots = [a["Root"] for a in answer if "Root" in a]
    stats: dict[str, Any] = next((a["Stats"] for a in answer if "Stats" in a), {})
    got = [str(r.get("Cid", {}).get("/", "")) for r in roots]
    errors = [str(r.get("PinErrorMsg")) for r in roots if r.get("PinErrorMsg")]
    if errors:
        raise PublishError(
            f"kubo imported {car} but could not pin its root: {'; '.join(errors)}",
            fix="the CAR lacks blocks of its DAG; assemble again and publish the new CAR",
        )
    if got != [expected]:
        raise PublishError(
            f"kubo reports root(s) {got or 'none'} for {car}, whose header says {expected}",
            fix="the CAR is not one `ipwhl assemble` wrote; assemble again",
        )
    return expected, int(stats.get("BlockCount", 0)), int(stats.get("BlockBytesCount", 0))


def confirm_pinned(kubo: Kubo, cid: str) -> None:
    answer = kubo.one("pin/ls", {"arg": cid, "type": "recursive"})
    keys = answer.get("Keys") or {}
    if keys.get(cid, {}).get("Type") != "recursive":
        raise PublishError(
            f"{cid} is not pinned recursively on {kubo.url} after the import",
            fix="another process may have unpinned it; publish again",
        )


def ensure_key(kubo: Kubo, name: str, *, create: bool) -> bool:
    """True if the key was made now. A missing key is an error unless `create`."""
    keys = kubo.one("key/list").get("Keys") or []
    if any(k.get("Name") == name for k in keys):
        return False
    if not create:
        known = ", ".join(sorted(str(k.get("Name")) for k in keys)) or "none"
        raise PublishError(
            f"the IPFS node has no key named {name!r} (it has: {known})",
            fix=f"create it once with `ipfs key gen {name}` (and back it up with "
            f"`ipfs key export {name}`), or pass --create-key",
        )
    kubo.one("key/gen", {"arg": name, "type": "ed25519"})
    return True


def name_publish(kubo: Kubo, cid: str, key: str) -> str:
    """Point IPNS key `key` at /ipfs/<cid>; return the name (`k51...`)."""
    answer = kubo.one(
        "name/publish",
        # allow-offline: a node without peers still records the name and republishes
        # it once connected; refusing would leave the tree pinned but unnamed.
        {"arg": f"/ipfs/{cid}", "key": key, "allow-offline": "true"},
    )
    value = str(answer.get("Value", ""))
    if value != f"/ipfs/{cid}":
        raise PublishError(
            f"name/publish set {answer.get('Name')} to {value!r}, not /ipfs/{cid}",
            fix="publish again",
        )
    return str(answer["Name"])


def node_gateway(kubo: Kubo) -> Gateway | None:
    """The node's own gateway, from its config, when it has one on a fixed port."""
    try:
        value = kubo.one("config", {"arg": "Addresses.Gateway"}).get("Value")
    except PublishError:
        return None
    addrs = value if isinstance(value, list) else [value]
    for addr in addrs:
        if isinstance(addr, str) and not addr.rstrip("/").endswith("/tcp/0"):
            try:
                return Gateway.parse(addr)
            except GatewayError:
                continue
    return None


def publish(
    car: Path,
    *,
    api: str | None = None,
    gateway: str | None = None,
    ipns_key: str | None = None,
    create_key: bool = False,
) -> Published:
    """Import, pin, confirm, optionally name; then check the gateway serves the index."""
    if not car.is_file():
        raise PublishError(f"no CAR file at {car}", fix="run `ipwhl assemble` (it writes one)")
    kubo = Kubo.at(api)
    # Ask something cheap first: a daemon that is down fails here, before any upload.
    kubo.one("version")
    # The key is checked before the import: a missing key stops us before any change.
    created = ensure_key(kubo, ipns_key, create=create_key) if ipns_key is not None else False
    cid, blocks, size = import_car(kubo, car)
    confirm_pinned(kubo, cid)
    name = name_publish(kubo, cid, ipns_key) if ipns_key is not None else None
    chosen = Gateway.parse(gateway) if gateway else (node_gateway(kubo) or Gateway())
    return Published(
        cid=cid,
        blocks=blocks,
        block_bytes=size,
        ipns_name=name,
        ipns_key=ipns_key,
        key_created=created,
        gateway=chosen,
        gateway_problem=probe_path_gateway(chosen, cid),
    )
