"""IPFS codecs and clients: multiformats, dag-pb, UnixFS, CAR, gateways, publishing.

Depends on nothing of the farm but its error tree and atomic writes."""
