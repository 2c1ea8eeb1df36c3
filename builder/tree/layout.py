"""Plan the tree as a value (path -> content): pure, no disk, no network."""

from __future__ import annotations

from hashlib import sha256 as sha256_hash
from typing import Final

from packaging.utils import InvalidWheelFilename, is_normalized_name, parse_wheel_filename

from builder.errors import AssembleError
from builder.tree.index import IndexFile, project_page, root_page
from builder.tree.manifest import MANIFEST, manifest_bytes
from builder.tree.model import Inputs, Source, TreePlan, Wheel, source_sha256

PLATFORMS_DIR: Final = "_platforms"
SOURCES_DIR: Final = "_sources"
FARM_DIR: Final = "_farm"  # under _sources/; `_` keeps it apart from project names
STATUS_DIR: Final = "_status"


def _check_wheel_name(project: str, wheel: Wheel) -> None:
    filename = wheel.record.wheel
    try:
        name = parse_wheel_filename(filename)[0]
    except InvalidWheelFilename as e:
        raise AssembleError(
            f"{project}: {filename!r} is not a wheel file name ({e})",
            fix="the build record is damaged; delete it and rebuild the job",
        ) from e
    if name != project or not is_normalized_name(project):
        raise AssembleError(
            f"{filename} is filed under project {project!r}",
            fix="project names must be normalized and match the wheel; fix the recipe name",
        )
    if "/" in filename or filename.startswith("."):
        raise AssembleError(f"unsafe wheel file name {filename!r}", fix="rebuild the job")


def _index_file(wheel: Wheel) -> IndexFile:
    return IndexFile(
        filename=wheel.record.wheel,
        sha256=wheel.record.wheel_sha256,
        metadata_sha256=sha256_hash(wheel.metadata).hexdigest(),
        requires_python=wheel.requires_python,
    )


def _pages(projects: dict[str, dict[str, Wheel]], base: str) -> dict[str, Source]:
    """An index (root page, one page per project, wheels, .metadata) rooted at `base`."""
    files: dict[str, Source] = {}
    try:
        files[f"{base}index.html"] = root_page(projects)
        for project, by_name in projects.items():
            files[f"{base}{project}/index.html"] = project_page(
                project, [_index_file(w) for w in by_name.values()]
            )
            for filename, wheel in by_name.items():
                files[f"{base}{project}/{filename}"] = wheel.blob
                files[f"{base}{project}/{filename}.metadata"] = wheel.metadata
    except ValueError as e:
        raise AssembleError(str(e), fix="fix the recipe's project name") from e
    return files


def plan_tree(inputs: Inputs, *, profile: str) -> TreePlan:
    """The whole tree as a value. Raises on two different files under one wheel name."""
    root: dict[str, dict[str, Wheel]] = {}
    per_platform: dict[str, dict[str, dict[str, Wheel]]] = {}
    for (project, platform), wheel in sorted(inputs.wheels.items()):
        _check_wheel_name(project, wheel)
        filename = wheel.record.wheel
        seen = root.setdefault(project, {}).setdefault(filename, wheel)
        if seen.record.wheel_sha256 != wheel.record.wheel_sha256:
            raise AssembleError(
                f"two different files named {filename}: {seen.record.wheel_sha256} "
                f"(for {seen.record.platform}) and {wheel.record.wheel_sha256} (for {platform})",
                fix="a pure wheel must be built once on the pure platform and reused; give "
                "wheels that differ different tags, or remove the stale record from the store",
            )
        per_platform.setdefault(platform, {})[project] = {filename: wheel}

    files: dict[str, Source] = _pages(root, "")
    for platform, projects in sorted(per_platform.items()):
        files.update(_pages(projects, f"{PLATFORMS_DIR}/{platform}/"))
    for project, src in sorted(inputs.sources.items()):
        base = f"{SOURCES_DIR}/{project}/"
        files[f"{base}{project}.toml"] = src.recipe_bytes
        for name, data in src.patches:
            files[f"{base}patches/{name}"] = data
        files[f"{base}{src.recipe.sdist_filename}"] = src.sdist
    for relative, data in sorted(inputs.farm_files.items()):
        files[f"{SOURCES_DIR}/{FARM_DIR}/{relative}"] = data
    for relative, data in sorted(inputs.status_files.items()):
        files[f"{STATUS_DIR}/{relative}"] = data
    files[MANIFEST] = manifest_bytes(inputs, profile)
    for path in files:
        if any(part.startswith(".") or not part for part in path.split("/")):
            # kubo skips hidden names, so a tree holding one would have another CID.
            raise AssembleError(f"hidden or empty name in {path!r}", fix="rename the file")
    ordered = dict(sorted(files.items()))
    return TreePlan(
        files=ordered,
        digests={path: source_sha256(source) for path, source in ordered.items()},
        projects=tuple(sorted(root)),
        missing=inputs.missing,
    )
