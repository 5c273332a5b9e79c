"""Site facts in the built pages: rendered for each site, never a placeholder, and a strict build
that names a fact the site lacks stops with the file, the line and the fact (exit 2)."""

from __future__ import annotations

import re

import pytest
from lxml import html as lxml_html

from hpc_handbook.cli import main

from .helpers import TINY_PROFILE, Book, copy_book

#: Template markers no rendered page may show: MyST substitutions and Jinja statements.
MARKERS = re.compile(r"\{\{|\{%")


def reader_text(page: str) -> str:
    """What a reader sees of a page, without its code cells (code may use braces of its own)."""
    tree = lxml_html.fromstring(page)
    for code_cell in tree.xpath("//div[contains(@class, 'cell_input')]"):
        code_cell.getparent().remove(code_cell)
    for script in tree.xpath("//script | //style"):
        script.getparent().remove(script)
    return tree.text_content()


@pytest.mark.parametrize("book_fixture", ["default_book", "tiny_book"])
def test_no_page_shows_a_template_marker(book_fixture: str, request: pytest.FixtureRequest) -> None:
    book: Book = request.getfixturevalue(book_fixture)
    shown = {
        path.relative_to(book.html).as_posix(): MARKERS.search(reader_text(path.read_text(encoding="utf-8")))
        for path in book.html.rglob("*.html")
        if "_static" not in path.parts
    }
    assert {page: match.group(0) for page, match in shown.items() if match} == {}


def test_facts_render_for_each_site(default_book: Book, tiny_book: Book) -> None:
    default = reader_text(default_book.page("examples/recipe-gpu-kernel"))
    assert "partition: gpu" in default
    tiny = reader_text(tiny_book.page("examples/recipe-gpu-kernel"))
    # The tiny site has no GPU partition: the page says so instead of naming another site's.
    assert "this site has no value for gpu_partition" in tiny and "partition: gpu" not in tiny
    ssh = reader_text(tiny_book.page("book/recipes/ssh-tunnel"))
    assert "sbatch --partition=compute" in ssh


def test_a_strict_build_stops_on_a_fact_the_site_lacks(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_book(tmp_path_factory.mktemp("unknown-fact-book"))
    page = root / "book" / "start" / "files.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nUp to {site}`partition nosuch max_walltime`.\n")
    line = len(page.read_text(encoding="utf-8").splitlines())
    assert main(["book", "--root", str(root), "--strict", "--site", str(TINY_PROFILE)]) == 2
    err = capsys.readouterr().err
    assert f"files.md:{line}" in err
    assert "partition nosuch max_walltime" in err and "no partition 'nosuch'" in err
