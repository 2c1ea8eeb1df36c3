"""The farm's data files load through one reader that checks their shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.curation.licenses import license_classifiers, load_allowlist
from builder.curation.names import well_known
from builder.errors import DataError, ExitCode
from builder.matrix import limits, runners
from builder.model import data


def test_every_shipped_data_file_loads_and_holds_what_its_readers_need() -> None:
    assert "MIT" in load_allowlist().licenses
    assert license_classifiers()["License :: OSI Approved :: MIT License"] == "MIT"
    assert "requests" in well_known()
    assert runners()["linux-x86_64"]["runner"]
    assert limits().max_entries == 256 and limits().budget < 6 * 3600
    assert data.string_table("system-headers.toml", "headers")["yaml.h"] == "libyaml-dev"
    assert data.tables("system-packages.toml")["libyaml-dev"]["yum"] == "libyaml-devel"


@pytest.mark.parametrize(
    ("text", "call", "where"),
    [
        ("names = 3\n", lambda: data.strings("x.toml", "names"), "names: must be a list"),
        ("[headers]\na = 1\n", lambda: data.string_table("x.toml", "headers"), "headers:"),
        ("[g]\nqemu = 'arm64'\n", lambda: data.tables("x.toml", required=("runner",)), "[g]"),
        ("names = [\n", lambda: data.strings("x.toml", "names"), "x.toml"),
    ],
)
def test_a_malformed_data_file_is_an_input_error_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, call: object, where: str
) -> None:
    (tmp_path / "x.toml").write_text(text)
    monkeypatch.setattr(data, "data_path", lambda name: tmp_path / name)
    data.load_data.cache_clear()
    try:
        with pytest.raises(DataError) as raised:
            call()  # type: ignore[operator]
    finally:
        data.load_data.cache_clear()
    assert where in str(raised.value) and str(tmp_path / "x.toml") in str(raised.value)
    assert raised.value.exit_code is ExitCode.INPUT and raised.value.fix
