"""The assembler on a synthetic store: small real wheels, real records, real recipes.

No build runs: wheels are written with zipfile and filed with the records the build
would write, so `builder.collection.current` selects them as it selects real ones.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import builder.tree.write as write_module
from builder.cli import main
from builder.errors import AssembleError, StoreError
from builder.ipfs.car import read_car
from builder.ipfs.unixfs import Importer, cid_of_path, get_profile
from builder.model.farm import Farm, load_farm
from builder.pipeline.collection import current
from builder.pipeline.store import Record, Store, input_hash
from builder.tree.assemble import Assembly, assemble
from builder.tree.gather import gather
from builder.tree.layout import plan_tree
from builder.tree.model import FileSource, Inputs, Wheel
from builder.tree.write import cache_path, load_cid_cache
from tests.fixtures.farm_files import dumps, make_farm, platform_doc, recipe_doc, snapshot

P312, P311, P313 = "linux-x86_64-cp312", "linux-x86_64-cp311", "linux-x86_64-cp313"
SDIST = b"an sdist"  # tests.fixtures.farm_files.SHA is its sha256


def wheel_bytes(name: str, version: str, tag: str, *, salt: str = "") -> tuple[str, bytes]:
    """A small valid wheel; `salt` changes its bytes but not its name."""
    dist = f"{name.replace('-', '_')}-{version}"
    metadata = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        "Requires-Python: >=3.9,<4\n\nA demo & its description.\n"
    )
    files = {
        f"{name.replace('-', '_')}/__init__.py": f"VALUE = {name!r}  # {salt}\n",
        f"{dist}.dist-info/METADATA": metadata,
        f"{dist}.dist-info/WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tag}\n",
    }
    files[f"{dist}.dist-info/RECORD"] = (
        "".join(f"{p},,\n" for p in files) + f"{dist}.dist-info/RECORD,,\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), text)
    return f"{dist}-{tag}.whl", buffer.getvalue()


@dataclass(frozen=True, kw_only=True)
class Synthetic:
    root: Path
    store: Store
    tmp: Path

    @property
    def farm(self) -> Farm:
        return load_farm(self.root)

    def put_wheel(
        self, project: str, platform: str, tag: str, *, salt: str = "", reuse: str | None = None
    ) -> Record:
        farm = self.farm
        recipe, plat = farm.recipes[project], farm.platforms[platform]
        filename, data = wheel_bytes(project, str(recipe.version), tag, salt=salt)
        path = self.tmp / "incoming" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        sha = self.store.put_file(path)
        inputs: dict[str, Any] = {"recipe": recipe.file_sha256, "platform": plat.file_sha256}
        if reuse is not None:  # a pure wheel served on another platform
            inputs["wheel"] = reuse
        else:
            patches = {p.path.name: p.sha256 for p in recipe.patches}
            inputs |= {"kind": "build", "sdist": recipe.sha256, "patches": patches,
                       "build-requirements": [], "salt": salt}  # fmt: skip
        record = Record(
            project=project, version=str(recipe.version), platform=platform,
            input_hash=input_hash(inputs), inputs=inputs, wheel=filename, wheel_sha256=sha,
            wheel_size=len(data), built_on=platform if reuse is None else P312,
            network_isolated=True, tests=(f"import {project.replace('-', '_')}",),
        )  # fmt: skip
        self.store.put_record(record)
        return record

    def assemble(self, out: Path, **options: Any) -> Assembly:
        farm = self.farm
        return assemble(farm, self.store, current(farm, self.store), out=out, **options)


def make_synthetic(tmp_path: Path) -> Synthetic:
    """demo-pure (pure, on every platform) and demo-ext (one wheel per platform); cp313
    has no records, so its jobs are missing."""
    root = make_farm(
        tmp_path / "farm",
        {"demo-pure": recipe_doc("demo-pure", pure=True), "demo-ext": recipe_doc("demo-ext")},
        {P312: platform_doc(P312, pure=True), P311: platform_doc(P311),
         P313: platform_doc(P313)},
    )  # fmt: skip
    patches = root / "recipes" / "patches" / "demo-ext"
    patches.mkdir(parents=True)
    (patches / "fix.patch").write_text("--- a\n+++ b\n")
    text = (root / "recipes" / "demo-ext.toml").read_text()
    (root / "recipes" / "demo-ext.toml").write_text(
        text.replace("[source]\n", '[source]\npatches = ["fix.patch"]\n')
    )
    store = Store(root=tmp_path / "store")
    (tmp_path / "sdist").write_bytes(SDIST)
    store.put_file(tmp_path / "sdist")
    synth = Synthetic(root=root, store=store, tmp=tmp_path)
    pure = synth.put_wheel("demo-pure", P312, "py3-none-any")
    synth.put_wheel("demo-pure", P311, "py3-none-any", reuse=pure.wheel_sha256)
    synth.put_wheel("demo-ext", P312, "cp312-cp312-manylinux_2_34_x86_64")
    synth.put_wheel("demo-ext", P311, "cp311-cp311-manylinux_2_34_x86_64")
    return synth


@pytest.fixture
def synthetic(tmp_path: Path) -> Synthetic:
    return make_synthetic(tmp_path)


def files_under(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def test_layout(synthetic: Synthetic, tmp_path: Path) -> None:
    result = synthetic.assemble(tmp_path / "out")
    tree = result.tree
    ext312 = "demo_ext-1.0.0-cp312-cp312-manylinux_2_34_x86_64.whl"
    ext311 = "demo_ext-1.0.0-cp311-cp311-manylinux_2_34_x86_64.whl"
    pure = "demo_pure-1.0.0-py3-none-any.whl"
    expected = {"index.html", "manifest.json"}
    layouts = {
        "": {"demo-ext": [ext311, ext312], "demo-pure": [pure]},
        f"_platforms/{P311}/": {"demo-ext": [ext311], "demo-pure": [pure]},
        f"_platforms/{P312}/": {"demo-ext": [ext312], "demo-pure": [pure]},
    }
    for base, wheels in layouts.items():
        expected.add(f"{base}index.html")
        for project, names in wheels.items():
            expected.add(f"{base}{project}/index.html")
            expected |= {f"{base}{project}/{n}" for n in names}
            expected |= {f"{base}{project}/{n}.metadata" for n in names}
    for project in ("demo-ext", "demo-pure"):
        sdist = f"{project.replace('-', '_')}-1.0.0.tar.gz"
        expected |= {f"_sources/{project}/{project}.toml", f"_sources/{project}/{sdist}"}
    expected.add("_sources/demo-ext/patches/fix.patch")
    # The platform files travel with the tree, so that it alone can be rebuilt.
    expected |= {f"_sources/_farm/platforms/{p}.toml" for p in synthetic.farm.platforms}
    assert files_under(tree) == expected
    assert (tree / "_sources/demo-ext/patches/fix.patch").read_text() == "--- a\n+++ b\n"
    assert (tree / "_sources/demo-pure/demo_pure-1.0.0.tar.gz").read_bytes() == SDIST
    recipe = synthetic.root / "recipes" / "demo-ext.toml"
    assert (tree / "_sources/demo-ext/demo-ext.toml").read_bytes() == recipe.read_bytes()

    # The page's hashes are those of the files beside it; .metadata is the wheel's METADATA.
    page = (tree / "demo-ext" / "index.html").read_text()
    for name in (ext311, ext312):
        wheel = (tree / "demo-ext" / name).read_bytes()
        meta = (tree / "demo-ext" / f"{name}.metadata").read_bytes()
        with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
            assert meta == archive.read("demo_ext-1.0.0.dist-info/METADATA")
        assert f"{name}#sha256={hashlib.sha256(wheel).hexdigest()}" in page
        assert f'data-core-metadata="sha256={hashlib.sha256(meta).hexdigest()}"' in page
    assert 'data-requires-python="&gt;=3.9,&lt;4"' in page
    root_page = (tree / "index.html").read_text()
    assert 'href="demo-ext/"' in root_page and "_platforms" not in root_page

    # Equal contents are one file on disk; IPFS would dedup their blocks anyway.
    shared = tree / f"_platforms/{P311}/demo-pure/{pure}"
    assert shared.stat().st_ino == (tree / "demo-pure" / pure).stat().st_ino

    # The CID is the tree's as laid out on disk; the CAR holds exactly that DAG.
    assert result.root == cid_of_path(tree)
    assert result.car == tmp_path / "out" / f"{result.root}.car"
    roots, blocks = read_car(result.car)
    assert roots == [result.root] and result.root in blocks


def test_manifest(synthetic: Synthetic, tmp_path: Path) -> None:
    tree = synthetic.assemble(tmp_path / "out", profile="unixfs-v0-2015").tree
    raw = (tree / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    assert raw == (json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n").encode()
    assert manifest["profile"] == "unixfs-v0-2015"
    assert manifest["platforms"] == [P311, P312, P313]
    ext = manifest["projects"]["demo-ext"]
    recipe = synthetic.farm.recipes["demo-ext"]
    assert ext["version"] == "1.0.0" and ext["license"] == "MIT"
    assert ext["recipe_sha256"] == recipe.file_sha256
    assert ext["sdist"] == {"filename": "demo_ext-1.0.0.tar.gz",
                            "sha256": hashlib.sha256(SDIST).hexdigest()}  # fmt: skip
    assert ext["patches"] == {"fix.patch": recipe.patches[0].sha256}
    records = {r.input_hash: r for r in synthetic.store.records()}
    entry = ext["platforms"][P312]
    record = records[entry["input_hash"]]
    assert entry == {"wheel": record.wheel, "sha256": record.wheel_sha256,
                     "size": record.wheel_size, "input_hash": record.input_hash,
                     "inputs": record.inputs, "built_on": P312,
                     "built_by": record.built_by, "network_isolated": record.network_isolated,
                     "tests": list(record.tests)}  # fmt: skip
    assert manifest["projects"]["demo-pure"]["platforms"][P311]["built_on"] == P312
    assert set(manifest["missing"]) == {"demo-ext", "demo-pure"}
    assert set(manifest["missing"]["demo-ext"]) == {P313}


def test_platform_glob_restricts_the_tree(synthetic: Synthetic, tmp_path: Path) -> None:
    result = synthetic.assemble(tmp_path / "out", platforms=["*-cp311"])
    tree = result.tree
    assert sorted(p.name for p in (tree / "_platforms").iterdir()) == [P311]
    assert sorted(p.name for p in (tree / "demo-ext").glob("*.whl")) == [
        "demo_ext-1.0.0-cp311-cp311-manylinux_2_34_x86_64.whl"
    ]
    assert (tree / "demo-pure" / "demo_pure-1.0.0-py3-none-any.whl").is_file()
    assert json.loads((tree / "manifest.json").read_text())["missing"] == {}
    with pytest.raises(AssembleError, match="no platform matches"):
        synthetic.assemble(tmp_path / "out", platforms=["windows-*"])


def test_one_wheel_per_project_in_each_platform_tree(synthetic: Synthetic, tmp_path: Path) -> None:
    tree = synthetic.assemble(tmp_path / "out").tree
    for platform in (P311, P312):
        base = tree / "_platforms" / platform
        for project in ("demo-ext", "demo-pure"):
            wheels = list((base / project).glob("*.whl"))
            assert len(wheels) == 1, wheels
            page = (base / project / "index.html").read_text()
            assert page.count("<a ") == 1 and f'href="{wheels[0].name}#sha256=' in page


def test_pure_wheel_appears_once(synthetic: Synthetic, tmp_path: Path) -> None:
    tree = synthetic.assemble(tmp_path / "out").tree
    assert [p.name for p in (tree / "demo-pure").glob("*.whl")] == [
        "demo_pure-1.0.0-py3-none-any.whl"
    ]
    assert (tree / "demo-pure" / "index.html").read_text().count("<a ") == 1


def test_two_files_under_one_name_is_an_error(synthetic: Synthetic, tmp_path: Path) -> None:
    first = synthetic.assemble(tmp_path / "out")
    before = snapshot(first.tree)
    # A second, different cp313 build that claims the cp312 wheel's file name.
    synthetic.put_wheel("demo-ext", P313, "cp312-cp312-manylinux_2_34_x86_64", salt="other")
    with pytest.raises(AssembleError, match="two different files named") as caught:
        synthetic.assemble(tmp_path / "out")
    assert caught.value.fix
    assert snapshot(first.tree) == before


def test_failure_midway_leaves_the_old_tree(
    synthetic: Synthetic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    first = synthetic.assemble(out)
    before, cars = snapshot(first.tree), sorted(out.glob("*.car"))
    synthetic.put_wheel("demo-ext", P313, "cp313-cp313-manylinux_2_34_x86_64")
    real_place = write_module._place
    calls = []

    def failing(source: Any, dest: Path) -> None:
        calls.append(dest)
        if len(calls) == 6:
            raise OSError(28, "No space left on device")
        real_place(source, dest)

    monkeypatch.setattr(write_module, "_place", failing)
    with pytest.raises(OSError, match="No space"):
        synthetic.assemble(out)
    assert snapshot(first.tree) == before
    assert sorted(out.glob("*.car")) == cars
    assert visible(out) == sorted(["tree", *(c.name for c in cars)])
    # a half-written staging tree, kept for reuse, and the index of the last tree
    assert hidden(out) <= {".tree-spare", ".tree-index.json"}

    monkeypatch.setattr(write_module, "_place", real_place)
    second = synthetic.assemble(out)
    assert second.root != first.root
    assert (second.tree / f"_platforms/{P313}/demo-ext").is_dir()
    assert visible(out) == sorted(["tree", f"{second.root}.car"])
    assert second.root == cid_of_path(second.tree)


def visible(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def hidden(out: Path) -> set[str]:
    return {p.name for p in out.iterdir() if p.name.startswith(".")}


def test_spare_tree_is_reused_and_repaired(synthetic: Synthetic, tmp_path: Path) -> None:
    """Re-assembly updates the previous tree in place; whatever it finds there, the
    result equals a fresh assembly, byte for byte and CID for CID."""
    out = tmp_path / "out"
    synthetic.assemble(out)
    added = synthetic.put_wheel("demo-ext", P313, "cp313-cp313-manylinux_2_34_x86_64")
    synthetic.assemble(out)
    spare = out / ".tree-spare"
    assert hidden(out) == {".tree-spare", ".tree-index.json"}
    # Damage the spare every way a killed run or a curious user could.
    page = spare / "demo-ext" / "index.html"
    page.chmod(0o644)
    page.write_text("stale")
    (spare / "extra.txt").write_text("not in the plan")
    shutil.rmtree(spare / "_sources" / "demo-pure")
    (spare / "_sources" / "demo-pure").write_text("a file where a directory goes")
    manifest = spare / "manifest.json"
    manifest.unlink()
    manifest.mkdir()
    metadata = next((spare / "demo-pure").glob("*.metadata"))
    metadata.unlink()
    metadata.symlink_to(next((out / "tree" / "demo-pure").glob("*.metadata")))
    synthetic.store.record_path(added.input_hash).unlink()  # a rebuild replaced it
    synthetic.put_wheel("demo-ext", P313, "cp313-cp313-manylinux_2_34_x86_64", salt="new")
    result = synthetic.assemble(out)
    fresh = synthetic.assemble(tmp_path / "fresh")
    assert result.root == fresh.root == cid_of_path(result.tree)
    assert {k: v[0] for k, v in snapshot(result.tree).items()} == {
        k: v[0] for k, v in snapshot(fresh.tree).items()
    }


def test_determinism(synthetic: Synthetic, tmp_path: Path) -> None:
    a = synthetic.assemble(tmp_path / "a")
    # The second run finds every file CID in the cache: only the CAR needs the blocks.
    b = synthetic.assemble(tmp_path / "b")
    assert a.root == b.root
    assert a.car is not None and b.car is not None
    assert a.car.read_bytes() == b.car.read_bytes()
    again = synthetic.assemble(tmp_path / "a")  # unchanged tree: same CID, CAR kept
    assert again.root == a.root and again.car == a.car
    cache_path(synthetic.store, get_profile()).unlink()
    c = synthetic.assemble(tmp_path / "c", car=False)
    assert c.root == a.root and c.car is None


@pytest.mark.parametrize("profile", ["unixfs-v1-2025", "unixfs-v0-2015"])
def test_file_cids_are_cached_by_sha256(
    synthetic: Synthetic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str
) -> None:
    out = tmp_path / "out"
    synthetic.assemble(out, profile=profile, car=False)
    cache = load_cid_cache(cache_path(synthetic.store, get_profile(profile)), get_profile(profile))
    wheel_sha = synthetic.store.records()[0].wheel_sha256
    assert f"{profile}/{wheel_sha}" in cache

    read: list[str] = []
    real = Importer.file_from_stream

    def counting(self: Importer, stream: Any, **kw: Any) -> Any:
        read.append(Path(stream.name).name)
        return real(self, stream, **kw)

    monkeypatch.setattr(Importer, "file_from_stream", counting)
    new = synthetic.put_wheel("demo-ext", P313, "cp313-cp313-manylinux_2_34_x86_64")
    result = synthetic.assemble(out, profile=profile, car=False)
    # Only what changed is read: the new wheel, the pages that list it (demo-ext's, and the
    # new platform's root and project pages) and the manifest. Its .metadata equals the
    # other demo-ext wheels' METADATA, so its CID is already known.
    assert sorted(read) == sorted([new.wheel, "index.html", "index.html", "index.html",
                                   "manifest.json"])  # fmt: skip
    assert result.root == cid_of_path(result.tree, profile)


def test_bad_cache_is_ignored(synthetic: Synthetic, tmp_path: Path) -> None:
    path = cache_path(synthetic.store, get_profile())
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "profile": "unixfs-v1-2025", "files": {"x": ["nope", 1]}}')
    result = synthetic.assemble(tmp_path / "out")
    assert result.root == cid_of_path(result.tree)


def test_plan_refuses_unnormalized_names(synthetic: Synthetic) -> None:
    record = synthetic.store.records()[0]
    wheel = Wheel(record=record, blob=FileSource(path=Path("/nonexistent"), sha256="0" * 64),
                  metadata=b"Name: x\n", requires_python=None)  # fmt: skip
    bad = Inputs(platforms=(P312,), wheels={("Demo_Pure", P312): wheel}, sources={}, missing={})
    with pytest.raises(AssembleError, match="filed under project 'Demo_Pure'"):
        plan_tree(bad, profile="unixfs-v1-2025")


def test_plan_is_pure(synthetic: Synthetic) -> None:
    """Planning touches no file: the sources it names need not exist yet."""
    farm = synthetic.farm
    inputs = gather(farm, synthetic.store, current(farm, synthetic.store),
                                    farm.platforms.values())  # fmt: skip
    moved = Inputs(
        platforms=inputs.platforms,
        wheels={k: Wheel(record=w.record, blob=FileSource(path=Path("/gone"), sha256=w.blob.sha256),
                         metadata=w.metadata, requires_python=w.requires_python)
                for k, w in inputs.wheels.items()},
        sources=inputs.sources, missing=inputs.missing, farm_files=inputs.farm_files,
    )  # fmt: skip
    a, b = plan_tree(inputs, profile="p"), plan_tree(moved, profile="p")
    assert list(a.files) == list(b.files) == sorted(a.files)
    assert not any(part.startswith(".") for path in a.files for part in path.split("/"))


def test_missing_sdist_says_how_to_get_it(synthetic: Synthetic, tmp_path: Path) -> None:
    blob = synthetic.store.blob(hashlib.sha256(SDIST).hexdigest())
    blob.chmod(0o644)
    blob.unlink()
    with pytest.raises(AssembleError, match="neither the store nor the download cache") as e:
        synthetic.assemble(tmp_path / "out")
    assert "ipwhl build" in e.value.fix


def test_cli(synthetic: Synthetic, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "public"
    code = main(["--root", str(synthetic.root), "assemble", "--out", str(out),
                 "--store", str(synthetic.store.root), "--platform", P312])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    cid = str(cid_of_path(out / "tree"))
    assert f"root CID: {cid}" in printed
    assert f"http://127.0.0.1:8080/ipfs/{cid}/" in printed
    assert "localhost" not in printed
    assert (out / f"{cid}.car").is_file()


def _inodes(directory: Path) -> set[tuple[int, int]]:
    return {(p.stat().st_dev, p.stat().st_ino) for p in directory.rglob("*") if p.is_file()}


def test_a_published_tree_shares_no_file_with_the_store(
    synthetic: Synthetic, tmp_path: Path
) -> None:
    """Nix's rule for outputs: whatever later writes to the store (a hostile build, a
    careless `cp`) cannot reach a tree that has been hashed and published."""
    out = tmp_path / "out"
    first = synthetic.assemble(out)
    assert _inodes(first.tree) & _inodes(synthetic.store.root / "blobs") == set()
    before = snapshot(first.tree)
    for blob in (synthetic.store.root / "blobs").iterdir():
        blob.chmod(0o644)
        blob.write_bytes(b"written after publication")
    assert snapshot(first.tree) == before
    assert cid_of_path(first.tree) == first.root


def test_a_changed_store_blob_is_refused_not_published(
    synthetic: Synthetic, tmp_path: Path
) -> None:
    record = next(r for r in synthetic.store.records() if r.project == "demo-ext")
    blob = synthetic.store.blob(record.wheel_sha256)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes() + b"tampered")
    with pytest.raises(StoreError, match=record.wheel_sha256) as raised:
        synthetic.assemble(tmp_path / "out")
    assert "ipwhl store check" in raised.value.fix
    assert not (tmp_path / "out" / "tree").exists()


def test_a_spare_file_changed_after_assembly_is_rewritten(
    synthetic: Synthetic, tmp_path: Path
) -> None:
    """Re-assembly keeps a spare file only while it is exactly as the farm left it."""
    out = tmp_path / "out"
    synthetic.assemble(out)
    synthetic.put_wheel("demo-ext", P313, "cp313-cp313-manylinux_2_34_x86_64")
    synthetic.assemble(out)  # the first tree is now the spare one
    spare_wheel = next((out / ".tree-spare" / "demo-pure").glob("*.whl"))
    size = spare_wheel.stat().st_size
    spare_wheel.chmod(0o644)
    spare_wheel.write_bytes(b"x" * size)  # same size: only the stat key tells
    result = synthetic.assemble(out)
    fresh = synthetic.assemble(tmp_path / "fresh")
    assert result.root == fresh.root == cid_of_path(result.tree)


def test_a_build_is_current_only_with_its_backends_wheel_from_the_recipe_as_it_is_now(
    synthetic: Synthetic,
) -> None:
    """demo-ext built with the set's demo-backend: current while that wheel is of the
    backend's recipe as it is now; not once the backend's recipe changed (a feature
    added, the version the same), though the old wheel is still in the store."""
    root = synthetic.root
    backend_recipe = root / "recipes" / "demo-backend.toml"
    backend_recipe.write_text(dumps(recipe_doc("demo-backend", pure=True)))
    text = (root / "recipes" / "demo-ext.toml").read_text()
    assert "[build]" not in text
    (root / "recipes" / "demo-ext.toml").write_text(
        text + '\n[build]\ndepends = ["demo-backend"]\n'
    )
    backend = synthetic.put_wheel("demo-backend", P312, "py3-none-any")
    farm = synthetic.farm
    recipe, plat = farm.recipes["demo-ext"], farm.platforms[P312]
    filename, data = wheel_bytes("demo-ext", str(recipe.version), "cp312-cp312-linux_x86_64")
    path = synthetic.tmp / "incoming" / filename
    path.write_bytes(data)
    inputs: dict[str, Any] = {
        "kind": "build", "recipe": recipe.file_sha256, "platform": plat.file_sha256,
        "sdist": recipe.sha256, "patches": {p.path.name: p.sha256 for p in recipe.patches},
        "build-requirements": [], "build-depends": {"demo-backend": backend.wheel_sha256},
    }  # fmt: skip
    built = Record(
        project="demo-ext", version=str(recipe.version), platform=P312,
        input_hash=input_hash(inputs), inputs=inputs, wheel=filename,
        wheel_sha256=synthetic.store.put_file(path), wheel_size=len(data), built_on=P312,
        network_isolated=True, tests=("import demo_ext",),
    )  # fmt: skip
    synthetic.store.put_record(built)
    assert current(farm, synthetic.store).wheels[("demo-ext", P312)] == built

    # The backend's recipe changes (maturin got its `sbom` feature); its version does not.
    backend_recipe.write_text(backend_recipe.read_text() + "# built another way\n")
    after = current(synthetic.farm, synthetic.store)
    assert ("demo-ext", P312) not in after.wheels
    assert ("demo-ext", P312) in after.missing
