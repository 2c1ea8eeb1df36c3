"""The published JSON Schema and the loader describe the same format."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema

from builder.model import recipe

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "schema" / "recipe.schema.json").read_text())


def test_schema_keys_are_the_loaders_keys() -> None:
    props = SCHEMA["properties"]
    assert set(props) == recipe.SECTIONS
    assert set(props["project"]["properties"]) == recipe.PROJECT_KEYS
    assert set(props["source"]["properties"]) == recipe.SOURCE_KEYS
    assert set(props["build"]["properties"]) == recipe.BUILD_KEYS
    assert set(props["test"]["properties"]) == recipe.TEST_KEYS


def test_every_recipe_in_the_repository_validates() -> None:
    paths = sorted((REPO / "recipes").glob("*.toml"))
    assert paths
    for path in paths:
        jsonschema.validate(tomllib.loads(path.read_text()), SCHEMA)


def test_schema_rejects_an_unknown_key() -> None:
    data = {
        "project": {"name": "x", "version": "1", "license": "MIT"},
        "source": {"url": "https://h/x-1.tar.gz", "sha256": "0" * 64},
        "bild": {},
    }
    try:
        jsonschema.validate(data, SCHEMA)
    except jsonschema.ValidationError as e:
        assert "bild" in str(e)
    else:
        raise AssertionError("an unknown section validated")
