"""The pinned Rust and the crates of a Cargo.lock, as values: the pin, the locked
crates, the vendored directory cargo reads, the environment of a build."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from builder.errors import BuildError, ChecksumMismatch, DataError
from builder.model.data import data_path
from builder.pipeline import rust
from builder.pipeline.normalize import record_hash

LOCK = """\
version = 4

[[package]]
name = "demo"
version = "0.1.0"
dependencies = ["itoa"]

[[package]]
name = "itoa"
version = "1.0.15"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "{sha}"
"""


def _crate(name: str, version: str, files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for rel, data in files.items():
            info = tarfile.TarInfo(f"{name}-{version}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_the_pin_names_every_tarball_by_sha256_and_the_target() -> None:
    pinned = rust.pinned_rust("aarch64", machine="x86_64")
    described = pinned.describe()
    assert described["rust-target"] == "aarch64-unknown-linux-gnu"
    assert {"rustc-sha256", "cargo-sha256", "rust-std-sha256"} <= described.keys()
    assert all(len(c.sha256) == 64 for c in pinned.components)
    std = next(c for c in pinned.components if c.name == "rust-std")
    assert "rust-std-" in std.url and "aarch64-unknown-linux-gnu" in std.url
    # The same rustc, another target's library: another unpacked home.
    assert pinned.key != rust.pinned_rust("x86_64", machine="x86_64").key
    table = tomllib.loads(data_path("toolchains.toml").read_text())["rust"]
    assert described["rust"] == table["version"]


def test_a_build_machine_without_a_pinned_rust_is_refused() -> None:
    with pytest.raises(DataError, match="no pinned Rust for a riscv64 build machine") as caught:
        rust.pinned_rust("x86_64", machine="riscv64")
    assert "[rust.riscv64]" in caught.value.fix


def test_the_crates_are_the_registry_packages_of_every_lock(tmp_path: Path) -> None:
    (tmp_path / "Cargo.lock").write_text(LOCK.format(sha="a" * 64))
    nested = tmp_path / "src" / "rust"
    nested.mkdir(parents=True)
    (nested / "Cargo.lock").write_text(LOCK.format(sha="a" * 64).replace("1.0.15", "1.0.14"))
    found = rust.locked_crates(tmp_path)
    assert [(c.name, c.version) for c in found] == [("itoa", "1.0.14"), ("itoa", "1.0.15")]
    assert found[1].url == "https://static.crates.io/crates/itoa/itoa-1.0.15.crate"


def test_a_crate_from_git_or_an_sdist_without_a_lock_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"has no Cargo\.lock"):
        rust.locked_crates(tmp_path)
    lock = LOCK.format(sha="a" * 64).replace(
        "registry+https://github.com/rust-lang/crates.io-index",
        "git+https://github.com/dtolnay/itoa?rev=1#abc",
    )
    (tmp_path / "Cargo.lock").write_text(lock)
    with pytest.raises(BuildError) as caught:
        rust.locked_crates(tmp_path)
    assert "Cargo.lock: package itoa 1.0.15 comes from git+" in caught.value.message
    assert "crates.io release" in caught.value.fix


def test_an_sdist_asking_for_a_newer_rustc_is_refused_before_any_crate(tmp_path: Path) -> None:
    """uv-build 0.13.6 asks for rustc 1.97 in its workspace; its crates inherit it."""
    (tmp_path / "Cargo.toml").write_text(
        '[workspace]\nmembers = ["crates/*"]\n[workspace.package]\nrust-version = "1.97.0"\n'
    )
    member = tmp_path / "crates" / "uv-build"
    member.mkdir(parents=True)
    (member / "Cargo.toml").write_text(
        '[package]\nname = "uv-build"\nrust-version = { workspace = true }\n'
    )
    # A crate's own build output is not the sdist's.
    (tmp_path / "target" / "x").mkdir(parents=True)
    (tmp_path / "target" / "x" / "Cargo.toml").write_text('[package]\nrust-version = "9.0"\n')
    with pytest.raises(BuildError) as caught:
        rust.require_rust_version(tmp_path, "1.95.0", project="uv-build")
    assert caught.value.message == (
        "recipes/uv-build.toml: the sdist's Cargo.toml: workspace.package.rust-version = "
        "'1.97.0' is newer than the pinned rustc 1.95.0"
    )
    assert "ipwhl bump" in caught.value.fix and "toolchains.toml" in caught.value.fix
    rust.require_rust_version(tmp_path, "1.97.0", project="uv-build")  # as new: fine
    (tmp_path / "Cargo.toml").write_text('[workspace]\nmembers = ["crates/*"]\n')
    (member / "Cargo.toml").write_text('[package]\nname = "uv-build"\nrust-version = "1.95"\n')
    rust.require_rust_version(tmp_path, "1.95.0", project="uv-build")  # 1.95 == 1.95.0


def test_vendored_crates_are_checked_and_unpacked_for_cargo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The download itself is the farm's fetch (tested against a real server in
    test_fetch); here the bytes come from a local file:// URL."""
    data = _crate("itoa", "1.0.15", {"Cargo.toml": b"[package]\n", "src/lib.rs": b""})
    served = tmp_path / "served.crate"
    served.write_bytes(data)
    crate = rust.Crate(name="itoa", version="1.0.15", sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(rust.Crate, "url", property(lambda self: served.as_uri()))
    cache, into = tmp_path / "cache", tmp_path / "vendor"
    rust.vendor((crate,), cache, into)
    unpacked = into / "itoa-1.0.15"
    assert (unpacked / "src" / "lib.rs").is_file()
    checksum = json.loads((unpacked / ".cargo-checksum.json").read_text())
    assert checksum == {"files": {}, "package": crate.sha256}
    assert rust.cached(crate, cache).read_bytes() == data
    wrong = rust.Crate(name="itoa", version="1.0.16", sha256="0" * 64)
    with pytest.raises(ChecksumMismatch):
        rust.vendor((wrong,), cache, tmp_path / "other")
    assert not rust.cached(wrong, cache).exists()


def test_cargo_reads_only_the_vendored_directory_offline(tmp_path: Path) -> None:
    config = tomllib.loads(rust.cargo_config(tmp_path / "vendor"))
    assert config["source"]["crates-io"]["replace-with"] == "ipwhl-vendored"
    assert config["source"]["ipwhl-vendored"]["directory"] == str(tmp_path / "vendor")
    assert config["net"]["offline"] is True


def test_the_environment_links_with_zig_and_remaps_the_job(tmp_path: Path) -> None:
    job = tmp_path / "job"
    env = rust.cargo_env(
        Path("/cache/rust"), job, target="x86_64-unknown-linux-gnu",
        linker=job / "toolchain/bin/cargo-cc", build_linker=job / "toolchain/bin/zig-build-cc",
        source=job / "sdist",
    )  # fmt: skip
    cc = str(job / "toolchain/bin/cargo-cc")
    assert env["CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER"] == cc
    assert env["CC_x86_64_unknown_linux_gnu"] == cc
    assert env["CXX_x86_64_unknown_linux_gnu"] == str(job / "toolchain/bin/cargo-c++")
    assert env["PATH"] == "/cache/rust/bin" and env["CARGO_NET_OFFLINE"] == "true"
    flags = env["CARGO_ENCODED_RUSTFLAGS"].split("\x1f")
    remaps = [f for f in flags if f.startswith("--remap-path-prefix=")]
    # rustc takes the last matching prefix: the source, inside the job, must come last.
    assert remaps[0] == f"--remap-path-prefix={job}=/job"
    assert remaps[-1] == f"--remap-path-prefix={job / 'sdist'}=/src"
    cross = rust.cargo_env(
        Path("/cache/rust"), job, target="aarch64-unknown-linux-gnu",
        linker=job / "zig-cc", build_linker=job / "zig-build-cc", source=job / "sdist",
    )  # fmt: skip
    # Build scripts run here: they are linked for this machine.
    assert cross["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"] == str(job / "zig-cc")
    assert cross["CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER"] == str(job / "zig-build-cc")


def test_the_crates_are_read_from_the_sdist_archive_too(tmp_path: Path) -> None:
    lock = LOCK.format(sha="b" * 64).encode()
    sdist = tmp_path / "demo-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for rel, data in (("Cargo.lock", lock), ("target/debug/Cargo.lock", b"junk")):
            info = tarfile.TarInfo(f"demo-0.1.0/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (crate,) = rust.sdist_crates(sdist)
    assert (crate.name, crate.version, crate.sha256) == ("itoa", "1.0.15", "b" * 64)


def test_sboms_name_the_remapped_paths_and_record_says_so(tmp_path: Path) -> None:
    sbom = b'{"bom-ref": "path+file:///build/job/sdist/demo-0.1#demo@0.1"}'
    wheel = tmp_path / "demo-0.1-cp312-cp312-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo.so", b"\x7fELF")
        archive.writestr("demo-0.1.dist-info/sboms/demo.cyclonedx.json", sbom)
        archive.writestr("demo-0.1.dist-info/RECORD",
                         "demo.so,,\ndemo-0.1.dist-info/sboms/demo.cyclonedx.json,sha256=x,1\n"
                         "demo-0.1.dist-info/RECORD,,\n")  # fmt: skip
    paths = {"/build/job/sdist": "/src", "/build/job": "/job"}
    out = rust.remap_sboms(wheel, tmp_path / "out", paths)
    with zipfile.ZipFile(out) as archive:
        new = archive.read("demo-0.1.dist-info/sboms/demo.cyclonedx.json")
        assert new == b'{"bom-ref": "path+file:///src/demo-0.1#demo@0.1"}'
        record = archive.read("demo-0.1.dist-info/RECORD").decode()
        assert f"sboms/demo.cyclonedx.json,{record_hash(new)},{len(new)}" in record
        assert archive.read("demo.so") == b"\x7fELF"
    # Nothing to replace: the same file, untouched.
    assert rust.remap_sboms(out, tmp_path / "again", paths) == out


def test_the_wrappers_drop_the_cc_crates_target_and_keep_the_rest(tmp_path: Path) -> None:
    # /bin/echo stands in for zig: what it prints is the command zig would get.
    for name, text in rust.wrapper_scripts("/bin/echo", "x86_64-linux-gnu.2.17").items():
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o755)
    out = subprocess.run(
        [tmp_path / "cargo-cc", "--target=x86_64-unknown-linux-gnu", "-O2", "a b.c"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out == "cc -target x86_64-linux-gnu.2.17 -mcpu=baseline -O2 a b.c\n"
