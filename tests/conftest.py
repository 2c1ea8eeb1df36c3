"""Fixtures every tier shares (defined in tests/fixtures/)."""

from tests.fixtures.published import published, sdist_cache

__all__ = ["published", "sdist_cache"]
