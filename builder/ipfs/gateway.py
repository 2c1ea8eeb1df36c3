"""IPFS addresses as URLs: kubo's RPC API and its HTTP gateway, as pip and uv reach them.

kubo names its listeners by multiaddr (`/ip4/127.0.0.1/tcp/5001`); people and pip use
URLs. This module converts between the two, builds the index URL users install from,
and reads files of a published tree through a gateway.

The default gateway is `http://127.0.0.1:8080`, never `http://localhost:8080`: kubo
treats `localhost` as a *subdomain* gateway and answers `/ipfs/<cid>/` there with a
redirect to `http://<cid>.ipfs.localhost:8080/`, a name many hosts cannot resolve
(no nss-myhostname), so pip fails (kubo issue 7290). An IP address is a path gateway.
"""

from __future__ import annotations

import http.client
import ipaddress
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Final

from builder.errors import GatewayError

DEFAULT_GATEWAY: Final = "http://127.0.0.1:8080"
DEFAULT_API: Final = "/ip4/127.0.0.1/tcp/5001"
# Names that kubo serves as subdomain gateways out of the box (its default
# `Gateway.PublicGateways` has `localhost` with `UseSubdomains: true`).
SUBDOMAIN_HOSTS: Final = frozenset({"localhost"})


def multiaddr_to_url(addr: str) -> str:
    """`/ip4/127.0.0.1/tcp/5001` -> `http://127.0.0.1:5001`; a URL passes through.

    A wildcard listen address (0.0.0.0, ::) becomes the loopback one: that is where a
    client on the same machine reaches it.
    """
    text = addr.strip()
    if text.startswith(("http://", "https://")):
        parsed = urllib.parse.urlsplit(text)
        if not parsed.hostname:
            raise GatewayError(f"{addr!r} has no host", fix="write it as http://HOST:PORT")
        return text.rstrip("/")
    parts = text.strip("/").split("/")
    if len(parts) < 4 or parts[2] != "tcp" or not parts[3].isdigit():
        raise GatewayError(
            f"{addr!r} is neither a URL nor a TCP multiaddr",
            fix="write it as /ip4/127.0.0.1/tcp/5001 or http://127.0.0.1:5001",
        )
    proto, host, port = parts[0], parts[1], parts[3]
    scheme = "https" if "https" in parts[4:] or "tls" in parts[4:] else "http"
    if proto == "ip4":
        host = "127.0.0.1" if host == "0.0.0.0" else host  # noqa: S104
    elif proto == "ip6":
        host = "[::1]" if ipaddress.ip_address(host).is_unspecified else f"[{host}]"
    elif proto not in ("dns", "dns4", "dns6"):
        raise GatewayError(
            f"{addr!r}: cannot reach a /{proto}/ address over HTTP",
            fix="use an /ip4/, /ip6/ or /dns/ multiaddr, or an http:// URL",
        )
    return f"{scheme}://{host}:{port}"


def loopback(url: str) -> str:
    """The same URL with its host replaced by 127.0.0.1 (a path gateway in kubo)."""
    parts = urllib.parse.urlsplit(url)
    netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)).rstrip("/")


def is_subdomain_host(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in SUBDOMAIN_HOSTS or host.endswith(".localhost")


@dataclass(frozen=True, kw_only=True)
class Gateway:
    """A path gateway: `<url>/ipfs/<cid>/<path>` is the file at `path` in the tree."""

    url: str = DEFAULT_GATEWAY

    @classmethod
    def parse(cls, text: str | None) -> Gateway:
        if not text:
            return cls()
        url = multiaddr_to_url(text)
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise GatewayError(f"{text!r} is not an http(s) URL", fix="e.g. " + DEFAULT_GATEWAY)
        return cls(url=url.rstrip("/"))

    def index_url(self, cid: str, subpath: str = "") -> str:
        """The pip index URL of a tree (or of a subtree such as `_platforms/<id>/`)."""
        sub = subpath.strip("/")
        return f"{self.url}/ipfs/{cid}/" + (f"{urllib.parse.quote(sub)}/" if sub else "")

    def file_url(self, cid: str, path: str) -> str:
        return f"{self.url}/ipfs/{cid}/{urllib.parse.quote(path.lstrip('/'))}"

    def read(self, cid: str, path: str, *, timeout: float = 120) -> bytes:
        """One file of the tree. The gateway checks every block against the CID."""
        url = self.file_url(cid, path)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as e:
            raise GatewayError(
                f"the gateway answered {e.code} {e.reason} for {url}",
                fix="check the CID and that the tree has this file (an `ipwhl assemble` "
                "tree has manifest.json at its root); a 504 means no peer has the blocks: "
                "pin the CID on this node (`ipfs pin add CID`)",
            ) from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise GatewayError(
                f"cannot read {url}: {getattr(e, 'reason', e)}",
                fix=f"start the IPFS daemon (`ipfs daemon`) or pass --gateway; "
                f"use an IP address such as {DEFAULT_GATEWAY}, not localhost "
                "(kubo redirects localhost to a subdomain many hosts cannot resolve)",
            ) from e


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def probe_path_gateway(gateway: Gateway, cid: str, *, timeout: float = 120) -> str | None:
    """None if pip can install from `gateway.index_url(cid)`, else why not, in words.

    Redirects are not followed: a redirect to `<cid>.ipfs.<host>` is exactly what
    breaks pip on hosts where that name does not resolve, so it is reported as such.
    """
    url = gateway.index_url(cid)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=timeout) as response:
            body = response.read(4096)
    except urllib.error.HTTPError as e:
        if 300 <= e.code < 400:
            target = e.headers.get("Location", "?")
            return (
                f"{url} redirects ({e.code}) to {target}: a subdomain gateway, which pip "
                "can reach only where *.localhost resolves; use "
                f"{Gateway(url=loopback(gateway.url)).index_url(cid)} or set "
                'Gateway.PublicGateways to {"localhost": {"Paths": ["/ipfs", "/ipns"], '
                '"UseSubdomains": false}}'
            )
        return f"{url} answered {e.code} {e.reason}"
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        return f"cannot reach {url}: {getattr(e, 'reason', e)}"
    if b"<a " not in body and b"Simple index" not in body:
        return f"{url} is not a pip index (no links on the page): is this an ipwhl tree?"
    return None
