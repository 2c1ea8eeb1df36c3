"""PEP 503 index pages, with PEP 658/714 metadata and PEP 345 Requires-Python.

Pure functions over values: the assembler decides what goes where, this only renders.
Every name and attribute is escaped, and only normalized project names get a page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from packaging.utils import canonicalize_name, is_normalized_name, parse_wheel_filename

_HEAD = '<!DOCTYPE html>\n<html>\n<head>\n<meta name="pypi:repository-version" content="1.1">\n'


@dataclass(frozen=True, kw_only=True)
class IndexFile:
    """One wheel as an index page links it."""

    filename: str
    sha256: str
    metadata_sha256: str
    requires_python: str | None = None


def _require_normalized(project: str) -> None:
    if not is_normalized_name(project):
        raise ValueError(
            f"{project!r} is not a normalized project name ({canonicalize_name(project)!r})"
        )


def root_page(projects: Iterable[str]) -> bytes:
    names = sorted(set(projects))
    for name in names:
        _require_normalized(name)
    links = "".join(f'<a href="{escape(n)}/">{escape(n)}</a><br>\n' for n in names)
    return (
        f"{_HEAD}<title>Simple index</title>\n</head>\n<body>\n{links}</body>\n</html>\n"
    ).encode()


def project_page(project: str, files: Iterable[IndexFile], *, prefix: str = "") -> bytes:
    """The page of one project; `prefix` is the path from the page to the wheels."""
    _require_normalized(project)
    rows = []
    for f in sorted(files, key=lambda f: f.filename):
        name, _version, _build, _tags = parse_wheel_filename(f.filename)
        if name != project:
            raise ValueError(f"{f.filename} is not a wheel of {project}")
        attrs = [f'href="{escape(prefix + f.filename)}#sha256={f.sha256}"']
        if f.requires_python:
            attrs.append(f'data-requires-python="{escape(f.requires_python)}"')
        # Only PEP 714's name: pip 23.0 (bundled with CPython 3.9) reads PEP 658's
        # `data-dist-info-metadata`, then rejects a metadata file whose Name is not
        # normalized ("MarkupSafe"). Without it, that pip downloads the wheel instead.
        attrs.append(f'data-core-metadata="sha256={f.metadata_sha256}"')
        rows.append(f"<a {' '.join(attrs)}>{escape(f.filename)}</a><br>\n")
    title = f"Links for {escape(project)}"
    return (
        f"{_HEAD}<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n"
        f"{''.join(rows)}</body>\n</html>\n"
    ).encode()
