"""Fixtures every tier shares (defined in tests/fixtures/)."""

from tests.fixtures.published import published, sdist_cache
from tests.fixtures.served import https_origin

__all__ = ["https_origin", "published", "sdist_cache"]
