"""Content identifiers: unsigned varints, CIDv0/CIDv1 and their text forms.

Only what IPWHL's trees use: sha2-256 multihashes, the dag-pb and raw codecs,
base58btc for CIDv0 and base32 (lower case, unpadded) for CIDv1, which is what
kubo prints.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Final

from builder.errors import UnixfsError

DAG_PB: Final = 0x70
RAW: Final = 0x55
DAG_CBOR: Final = 0x71
SHA2_256: Final = 0x12
SHA2_256_LENGTH: Final = 32

_B58_ALPHABET: Final = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX: Final = {c: i for i, c in enumerate(_B58_ALPHABET)}
_CODEC_NAMES: Final = {DAG_PB: "dag-pb", RAW: "raw", DAG_CBOR: "dag-cbor"}


def varint(value: int) -> bytes:
    """Unsigned LEB128, as protobuf, multiformats and CAR all use it."""
    if value < 0:
        raise ValueError(f"varint of a negative number: {value}")
    if value < 0x80:
        # The common case (tags, small lengths) skips the loop.
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(buf: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """Decode the varint at `pos`; return it and the position after it."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and shift:
                raise ValueError("varint is not minimally encoded")
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 9 bytes")


def b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out = bytearray()
    while number:
        number, rem = divmod(number, 58)
        out.append(_B58_ALPHABET[rem])
    return (b"1" * zeros + bytes(reversed(out))).decode("ascii")


def b58decode(text: str) -> bytes:
    raw = text.encode("ascii")
    number = 0
    for c in raw:
        if c not in _B58_INDEX:
            raise ValueError(f"not base58btc: {text!r}")
        number = number * 58 + _B58_INDEX[c]
    zeros = len(raw) - len(raw.lstrip(b"1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


@dataclass(frozen=True, slots=True)
class Cid:
    """A CID held in its binary form, which is what blocks, links and CARs carry.

    Positional on purpose: millions are made while hashing a large tree.
    """

    binary: bytes

    @classmethod
    def sha256(cls, version: int, codec: int, digest: bytes) -> Cid:
        multihash = b"\x12\x20" + digest
        if version == 0:
            if codec != DAG_PB:
                raise ValueError("CIDv0 is dag-pb only")
            return cls(multihash)
        return cls(b"\x01" + varint(codec) + multihash)

    @classmethod
    def of(cls, version: int, codec: int, block: bytes | memoryview) -> Cid:
        return cls.sha256(version, codec, hashlib.sha256(block).digest())

    @classmethod
    def decode(cls, buf: bytes | memoryview, pos: int = 0) -> tuple[Cid, int]:
        """Read a binary CID at `pos` (as in a CAR section); return it and the end."""
        start = pos
        if buf[pos : pos + 2] == b"\x12\x20":
            end = pos + 34
        else:
            version, pos = read_varint(buf, pos)
            if version != 1:
                raise ValueError(f"unsupported CID version {version}")
            _, pos = read_varint(buf, pos)
            _, pos = read_varint(buf, pos)
            length, pos = read_varint(buf, pos)
            end = pos + length
        if end > len(buf):
            raise ValueError("truncated CID")
        return cls(bytes(buf[start:end])), end

    @classmethod
    def parse(cls, text: str) -> Cid:
        """Parse kubo's text forms: `Qm...` (CIDv0) or `b...` (CIDv1, base32)."""
        try:
            if text.startswith("Qm") and len(text) == 46:
                raw = b58decode(text)
            elif text.startswith("b"):
                body = text[1:].upper()
                raw = base64.b32decode(body + "=" * (-len(body) % 8))
            else:
                raise ValueError("only CIDv0 and base32 CIDv1 are supported")
            cid, end = cls.decode(raw)
            if end != len(raw):
                raise ValueError("trailing bytes")
        except ValueError as e:
            raise UnixfsError(
                f"not a CID: {text!r} ({e})",
                fix="pass a CID as kubo prints it: Qm... (v0) or bafy.../bafk... (v1)",
            ) from e
        return cid

    @property
    def version(self) -> int:
        return 0 if self.binary[0] == SHA2_256 else 1

    @property
    def codec(self) -> int:
        if self.version == 0:
            return DAG_PB
        return read_varint(self.binary, 1)[0]

    @property
    def codec_name(self) -> str:
        return _CODEC_NAMES.get(self.codec, hex(self.codec))

    @property
    def multihash(self) -> bytes:
        if self.version == 0:
            return self.binary
        return self.binary[read_varint(self.binary, 1)[1] :]

    @property
    def digest(self) -> bytes:
        return self.multihash[2:]

    def verify(self, block: bytes | memoryview) -> bool:
        mh = self.multihash
        return mh[:2] == b"\x12\x20" and hashlib.sha256(block).digest() == mh[2:]

    def __str__(self) -> str:
        if self.version == 0:
            return b58encode(self.binary)
        return "b" + base64.b32encode(self.binary).decode("ascii").rstrip("=").lower()

    def __repr__(self) -> str:
        return f"Cid({self})"
