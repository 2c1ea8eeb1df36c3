"""publish against a scripted kubo RPC server: what is checked, in which order, what fails.

The real kubo runs in tests/oracle/test_publish_install.py; here each failure mode is
produced on purpose, which a healthy daemon would not do.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from builder.errors import CarError, GatewayError, PublishError
from builder.ipfs.car import BlockStore, write_dag_car
from builder.ipfs.gateway import Gateway, loopback, multiaddr_to_url
from builder.ipfs.publish import _verified_car, car_root, publish
from builder.ipfs.unixfs import Importer, get_profile

Answer = tuple[int, list[dict[str, object]]]


@pytest.mark.parametrize(
    ("addr", "url"),
    [
        ("/ip4/127.0.0.1/tcp/5001", "http://127.0.0.1:5001"),
        ("/ip4/0.0.0.0/tcp/8080", "http://127.0.0.1:8080"),
        ("/ip6/::1/tcp/5001", "http://[::1]:5001"),
        ("/ip6/::/tcp/5001", "http://[::1]:5001"),
        ("/dns4/ipfs.example/tcp/443/https", "https://ipfs.example:443"),
        ("http://127.0.0.1:5001/", "http://127.0.0.1:5001"),
    ],
)
def test_multiaddr_to_url(addr: str, url: str) -> None:
    assert multiaddr_to_url(addr) == url


@pytest.mark.parametrize("addr", ["/ip4/127.0.0.1/udp/5001", "/unix/tmp/api", "5001", "http://"])
def test_bad_addresses(addr: str) -> None:
    with pytest.raises(GatewayError):
        multiaddr_to_url(addr)


def test_gateway_urls() -> None:
    assert Gateway.parse(None).index_url("bafy") == "http://127.0.0.1:8080/ipfs/bafy/"
    gw = Gateway.parse("/ip4/127.0.0.1/tcp/9")
    assert gw.index_url("bafy", "_platforms/linux-x86_64-cp312") == (
        "http://127.0.0.1:9/ipfs/bafy/_platforms/linux-x86_64-cp312/"
    )
    assert loopback("http://localhost:8080/") == "http://127.0.0.1:8080"


@pytest.fixture
def car(tmp_path: Path) -> Path:
    importer = Importer(profile=get_profile(), sink=(blocks := BlockStore()))
    root = importer.add_tree({"index.html": b"<a href='x/'>x</a>", "x/y.whl": b"y" * 300_000})
    path = tmp_path / f"{root.cid}.car"
    write_dag_car(path, root.cid, blocks)
    return path


def test_damaged_car_is_refused_while_streaming(car: Path) -> None:
    data = bytearray(car.read_bytes())
    data[-5] ^= 1
    car.write_bytes(bytes(data))
    with pytest.raises(CarError, match="does not match its CID"):
        for _ in _verified_car(car):
            pass


class FakeKubo:
    """Answers RPC commands from a script and records what was asked, in order."""

    def __init__(self, script: dict[str, Callable[[dict[str, list[str]], bytes], Answer]]):
        self.script = script
        self.calls: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                command = url.path.removeprefix("/api/v0/")
                fake.calls.append(command)
                body = self._body()
                code, answer = fake.script.get(command, lambda q, b: (404, []))(
                    parse_qs(url.query), body
                )
                raw = b"".join(json.dumps(a).encode() + b"\n" for a in answer)
                self.send_response(code)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # the gateway
                raw = b"<a href='x/'>x</a>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while size := int(self.rfile.readline().strip() or b"0", 16):
                        out += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return out
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeKubo:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def healthy(root: str, *, keys: tuple[str, ...] = ("self",)) -> dict[str, Callable[..., Answer]]:
    def dag_import(q: dict[str, list[str]], body: bytes) -> Answer:
        assert q["pin-roots"] == ["true"]
        assert b"application/vnd.ipld.car" in body
        return 200, [
            {"Root": {"Cid": {"/": root}, "PinErrorMsg": ""}},
            {"Stats": {"BlockCount": 3, "BlockBytesCount": 300_100}},
        ]

    return {
        "version": lambda q, b: (200, [{"Version": "0.43.0"}]),
        "key/list": lambda q, b: (200, [{"Keys": [{"Name": k, "Id": "k51"} for k in keys]}]),
        "key/gen": lambda q, b: (200, [{"Name": q["arg"][0], "Id": "k51new"}]),
        "dag/import": dag_import,
        "pin/ls": lambda q, b: (200, [{"Keys": {q["arg"][0]: {"Type": "recursive"}}}]),
        "name/publish": lambda q, b: (200, [{"Name": "k51", "Value": q["arg"][0]}]),
        "config": lambda q, b: (200, [{"Key": "Addresses.Gateway", "Value": "/ip4/1/tcp/0"}]),
    }


def test_publish_in_order(car: Path) -> None:
    root = str(car_root(car))
    with FakeKubo(healthy(root, keys=("self", "chan"))) as kubo:
        done = publish(car, api=kubo.url, gateway=kubo.url, ipns_key="chan")
    assert kubo.calls == ["version", "key/list", "dag/import", "pin/ls", "name/publish"]
    assert (done.cid, done.blocks, done.ipns_name, done.gateway_problem) == (root, 3, "k51", None)
    assert done.index_url == f"{kubo.url}/ipfs/{root}/"


def test_daemon_down_names_the_address_and_the_fix(car: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PublishError) as e:
        publish(car, api=f"/ip4/127.0.0.1/tcp/{port}")
    assert f"127.0.0.1:{port}" in str(e.value) and "ipfs daemon" in e.value.fix


def test_missing_key_stops_before_the_import(car: Path) -> None:
    with FakeKubo(healthy(str(car_root(car)))) as kubo, pytest.raises(PublishError) as e:
        publish(car, api=kubo.url, gateway=kubo.url, ipns_key="chan")
    assert "no key named 'chan'" in str(e.value) and "ipfs key gen chan" in e.value.fix
    assert "dag/import" not in kubo.calls


def test_create_key(car: Path) -> None:
    with FakeKubo(healthy(str(car_root(car)))) as kubo:
        done = publish(car, api=kubo.url, gateway=kubo.url, ipns_key="chan", create_key=True)
    assert done.key_created and "key/gen" in kubo.calls


def _break(script: dict[str, Callable[..., Answer]], command: str, answer: Answer) -> None:
    script[command] = lambda q, b: answer


@pytest.mark.parametrize(
    ("command", "answer", "message"),
    [
        ("version", (403, [{"Message": "forbidden"}]), "refused `version`: 403 forbidden"),
        (
            "dag/import",
            (200, [{"Root": {"Cid": {"/": "bafyother"}, "PinErrorMsg": ""}}]),
            "kubo reports root(s) ['bafyother']",
        ),
        (
            "dag/import",
            (200, [{"Root": {"Cid": {"/": "x"}, "PinErrorMsg": "block not found"}}]),
            "could not pin its root: block not found",
        ),
        ("pin/ls", (200, [{"Keys": {}}]), "is not pinned recursively"),
        ("pin/ls", (500, [{"Message": "not pinned"}]), "refused `pin/ls`: 500 not pinned"),
    ],
)
def test_nothing_half_done_is_reported_as_done(
    car: Path, command: str, answer: Answer, message: str
) -> None:
    script = healthy(str(car_root(car)))
    _break(script, command, answer)
    with FakeKubo(script) as kubo, pytest.raises(PublishError) as e:
        publish(car, api=kubo.url, gateway=kubo.url, ipns_key="self")
    assert message in str(e.value)
    assert "name/publish" not in kubo.calls


def test_gateway_problem_is_reported(car: Path) -> None:
    with FakeKubo(healthy(str(car_root(car)))) as kubo:
        done = publish(car, api=kubo.url, gateway="http://127.0.0.1:1")
    assert done.gateway_problem is not None and "cannot reach" in done.gateway_problem
