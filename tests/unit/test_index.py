"""PEP 503 pages: escaping, normalized names only, PEP 658/714 attributes."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.tree.index import IndexFile, project_page, root_page

SHA = "a" * 64
META = "b" * 64


class Links(HTMLParser):
    """The anchors of a page, as an installer's HTML parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        if self.anchors and data.strip():
            self.texts.append(data)


def parse(page: bytes) -> Links:
    parser = Links()
    parser.feed(page.decode())
    return parser


def test_requires_python_is_escaped() -> None:
    page = project_page(
        "demo",
        [IndexFile(filename="demo-1.0-py3-none-any.whl", sha256=SHA, metadata_sha256=META,
                   requires_python=">=3.9,<4")],
    )  # fmt: skip
    assert b'data-requires-python="&gt;=3.9,&lt;4"' in page
    assert b"<4" not in page
    assert parse(page).anchors[0]["data-requires-python"] == ">=3.9,<4"


def test_filename_with_ampersand_and_quote_is_escaped() -> None:
    # packaging accepts any text in a platform tag, so the page must not trust it.
    name = 'demo-1.0-py3-none-any&x"y.whl'
    page = project_page("demo", [IndexFile(filename=name, sha256=SHA, metadata_sha256=META)])
    assert b"any&amp;x&quot;y.whl#sha256=" in page
    assert b"any&x" not in page
    links = parse(page)
    assert links.anchors[0]["href"] == f"{name}#sha256={SHA}"
    assert links.texts == [name]


def test_pep658_and_714_attributes() -> None:
    page = project_page("demo", [IndexFile(filename="demo-1.0-py3-none-any.whl", sha256=SHA,
                                           metadata_sha256=META)])  # fmt: skip
    anchor = parse(page).anchors[0]
    assert anchor["href"] == f"demo-1.0-py3-none-any.whl#sha256={SHA}"
    assert anchor["data-core-metadata"] == f"sha256={META}"
    # PEP 658's old name is left out on purpose: pip 23.0 mishandles it (see index.py).
    assert "data-dist-info-metadata" not in anchor
    assert "data-requires-python" not in anchor  # absent, not empty
    assert b'<meta name="pypi:repository-version" content="1.1">' in page


def test_prefix_and_sorting() -> None:
    files = [IndexFile(filename=f"demo-1.0-cp31{i}-cp31{i}-linux_x86_64.whl", sha256=SHA,
                       metadata_sha256=META) for i in (3, 1, 2)]  # fmt: skip
    anchors = parse(project_page("demo", files, prefix="../w/")).anchors
    hrefs = [str(a["href"]) for a in anchors]
    assert hrefs == sorted(hrefs)
    assert all(h.startswith("../w/demo-1.0-cp31") for h in hrefs)


@pytest.mark.parametrize("name", ["Demo", "demo_pkg", "demo.pkg", "demo--pkg", "-demo", ""])
def test_non_normalized_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="normalized"):
        root_page(["fine", name])
    with pytest.raises(ValueError, match="normalized"):
        project_page(name, [])


def test_wheel_of_another_project_is_refused() -> None:
    with pytest.raises(ValueError, match="not a wheel of demo"):
        project_page("demo", [IndexFile(filename="other-1.0-py3-none-any.whl", sha256=SHA,
                                        metadata_sha256=META)])  # fmt: skip


def test_root_page_is_sorted_and_deduplicated() -> None:
    page = root_page(["zipp", "attrs", "zipp", "a-b"])
    assert [a["href"] for a in parse(page).anchors] == ["a-b/", "attrs/", "zipp/"]


@given(st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True), max_size=8))
def test_root_page_links_every_normalized_name(names: list[str]) -> None:
    names = [n for n in names if "--" not in n]
    anchors = parse(root_page(names)).anchors
    assert [a["href"] for a in anchors] == [f"{n}/" for n in sorted(set(names))]
    assert all(re.fullmatch(r"[a-z0-9-]+/", str(a["href"])) for a in anchors)
