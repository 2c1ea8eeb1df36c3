"""The IPWHL build farm: reproducible wheels from pinned sdists, one IPFS CID."""

__version__ = "0.1.0"
