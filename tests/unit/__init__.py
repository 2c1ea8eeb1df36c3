"""Unit tests: pure functions and loaders, no network beyond 127.0.0.1."""
