"""A Debian suite's index read, and the closure a root needs resolved from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.curation.debian import closure, parse_packages
from builder.errors import CurationError, InputError
from builder.model.root import load_root, root_text

PACKAGES = """\
Package: python3.99
Version: 3.99.1-1
Pre-Depends: libc6 (>= 2.38)
Depends: libpython3.99-stdlib (= 3.99.1-1), media-types | mailcap, tzdata
Filename: pool/main/p/python3.99/python3.99_3.99.1-1_amd64.deb
Size: 100
SHA256: {a}

Package: libpython3.99-stdlib
Version: 3.99.1-1
Depends: libc6 (>= 2.42), libssl3t64 (>= 3.4.0) | libssl-legacy, debconf (>= 0.5) | debconf-2.0
Filename: pool/main/p/python3.99/libpython3.99-stdlib_3.99.1-1_amd64.deb
Size: 200
SHA256: {b}

Package: libc6
Version: 2.43-7
Depends: libgcc-s1
Filename: pool/main/g/glibc/libc6_2.43-7_amd64.deb
Size: 300
SHA256: {c}

Package: libgcc-s1
Version: 16.2.0-4
Depends: libc6 (>= 2.35)
Filename: pool/main/g/gcc-16/libgcc-s1_16.2.0-4_amd64.deb
Size: 40
SHA256: {d}

Package: mailcap
Version: 3.74
Provides: media-types
Filename: pool/main/m/mailcap/mailcap_3.74_all.deb
Size: 10
SHA256: {e}

Package: libssl3t64
Version: 3.5.4-1
Filename: pool/main/o/openssl/libssl3t64_3.5.4-1_amd64.deb
Size: 50
SHA256: {f}

Package: cdebconf
Version: 0.280
Provides: debconf-2.0
Filename: pool/main/c/cdebconf/cdebconf_0.280_amd64.deb
Size: 5
SHA256: {g}

Package: tzdata
Version: 2026c-1
Filename: pool/main/t/tzdata/tzdata_2026c-1_all.deb
Size: 70
SHA256: {h}
""".format(**{k: f"{i:x}" * 64 for i, k in enumerate("abcdefgh", start=2)})


def test_the_closure_follows_pre_depends_depends_alternatives_and_providers() -> None:
    index = parse_packages(PACKAGES, "Fri, 30 Oct 2026 08:08:01 UTC")
    debs = closure(index, ["python3.99"])
    # media-types is virtual (mailcap provides it), debconf is absent (cdebconf provides
    # its alternative), and the libc6 <-> libgcc-s1 cycle ends.
    assert [d.name for d in debs] == [
        "cdebconf", "libc6", "libgcc-s1", "libpython3.99-stdlib", "libssl3t64", "mailcap",
        "python3.99", "tzdata",
    ]  # fmt: skip
    python = next(d for d in debs if d.name == "python3.99")
    assert (python.version, python.sha256, python.size) == ("3.99.1-1", "2" * 64, 100)
    with pytest.raises(CurationError, match="no package or provider of 'python4'"):
        closure(index, ["python4"])


def test_a_root_lock_round_trips_and_a_tampered_one_names_the_field(tmp_path: Path) -> None:
    index = parse_packages(PACKAGES, "Fri, 30 Oct 2026 08:08:01 UTC")
    debs = closure(index, ["tzdata"])
    text = root_text(name="tiny", mirror="http://deb.example", suite="sid",
                     release_date=index.date, wanted=["tzdata"], debs=debs)  # fmt: skip
    (tmp_path / "roots").mkdir()
    (tmp_path / "roots" / "tiny.toml").write_text(text)
    root = load_root(tmp_path, "tiny")
    assert root.debs == tuple(debs) and root.wanted == ("tzdata",) and root.suite == "sid"
    (tmp_path / "roots" / "tiny.toml").write_text(text.replace("pool/main", "../../etc"))
    with pytest.raises(InputError) as caught:
        load_root(tmp_path, "tiny")
    (problem,) = caught.value.problems
    assert (problem.code, problem.field) == ("T001", "deb.tzdata")
    assert "ipwhl root-lock" in problem.fix


def test_a_root_of_another_arch_says_so_and_a_platform_must_match_it(tmp_path: Path) -> None:
    from builder.model.farm import load_farm
    from tests.fixtures.farm_files import make_farm, platform_doc

    index = parse_packages(PACKAGES, "Fri, 30 Oct 2026 08:08:01 UTC")
    text = root_text(name="tiny-arm64", mirror="http://deb.example", suite="bookworm",
                     release_date=index.date, wanted=["tzdata"],
                     debs=closure(index, ["tzdata"]), arch="arm64")  # fmt: skip
    assert "ipwhl root-lock tiny-arm64 tzdata --suite bookworm --arch arm64`" in text
    platforms = {
        "linux-x86_64-cp312": platform_doc("linux-x86_64-cp312", pure=True),
        "linux-aarch64-cp311": platform_doc("linux-aarch64-cp311", root="tiny-arm64"),
        "linux-x86_64-cp311": platform_doc("linux-x86_64-cp311", root="tiny-arm64"),
    }
    make_farm(tmp_path, {}, platforms)
    (tmp_path / "roots").mkdir(exist_ok=True)
    (tmp_path / "roots" / "tiny-arm64.toml").write_text(text)
    assert load_root(tmp_path, "tiny-arm64").arch == "arm64"
    with pytest.raises(InputError) as caught:
        load_farm(tmp_path)
    (problem,) = caught.value.problems  # the aarch64 platform is fine
    assert (problem.code, problem.file.name, problem.field) == (
        "P011",
        "linux-x86_64-cp311.toml",
        "root",
    )
    assert "--arch amd64" in problem.fix
