"""Every example page has its "Open on the hub" link to its own centre's hub.

The link on the page is the one the doc CI follows (`launch_link`); a book built for another
centre's profile links that centre's hub and repository. A page whose example the centre cannot
run says so beside the link.
"""

from __future__ import annotations

import html
import re

import pytest

from hpc_handbook.examples.contract import discover_examples
from hpc_handbook.examples.launch_link import launch_link
from hpc_handbook.profile import load_profile

from .helpers import TINY_PROFILE, Book

LINK = re.compile(r'<a class="[^"]*handbook-launch-link[^"]*" href="([^"]+)"')
CAVEAT = re.compile(r'<strong class="handbook-launch-caveat">(.*?)</strong>', re.S)


@pytest.mark.parametrize("book_name", ["default_book", "tiny_book"])
def test_each_example_page_links_its_centres_hub_or_says_why_not(book_name: str, request) -> None:
    book: Book = request.getfixturevalue(book_name)
    profile = load_profile(book.root / "site.yml" if book_name == "default_book" else TINY_PROFILE)
    hub = str(profile.site.hub_url).rstrip("/")
    caveats = 0
    for example in discover_examples(book.root / "examples", profile):
        page = book.page(example.page)
        link = launch_link(example, profile)
        assert [html.unescape(url) for url in LINK.findall(page)] == [link.url], example.page
        assert link.url.startswith(f"{hub}/hub/handbook-launch?")
        shown = [html.unescape(re.sub(r"<[^>]+>", "", found)) for found in CAVEAT.findall(page)]
        if link.caveat:
            assert len(shown) == 1 and link.caveat in shown[0], example.page
            caveats += 1
        else:
            assert shown == [], example.page
    assert caveats >= 1
