"""Under each example page's banner: the "Open on the hub" link to run it on this profile's hub.

The link comes from `hpc_handbook.examples.launch_link`, which the doc CI follows too; a page
built for another profile links that centre's hub. For an example the site cannot run, the
link still opens the notebook, and the page says why it will not run there.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx

from hpc_handbook.book.generated import wording
from hpc_handbook.book.site_values import get_profile
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.examples.contract import load_example
from hpc_handbook.examples.launch_link import LaunchLink, launch_link


def _inline(text: str) -> list[nodes.Node]:
    """Text with its backticked parts as code."""
    return [nodes.literal(text=part) if i % 2 else nodes.Text(part) for i, part in enumerate(text.split("`"))]


def _place_text(link: LaunchLink, words: dict[str, str]) -> str:
    if link.partition is None:
        return words["login"]
    options = link.options
    return words["partition"].format(
        partition=link.partition, cpus=options["cpus"], walltime=options["walltime"]
    )


def launch_paragraph(link: LaunchLink, hub: str, site: str) -> nodes.paragraph:
    """The link, as a button, what following it does, and why the example will not run, if it will not."""
    words = wording("launch_link.yml")
    paragraph = nodes.paragraph(classes=["handbook-launch"])
    button = nodes.reference(
        "", words["label"], refuri=link.url, classes=["sd-btn", "sd-btn-primary", "handbook-launch-link"]
    )
    folder = f"~/{link.notebook.split('/')[0]}"
    text = words["text"].format(hub=hub, place=_place_text(link, words["place"]), folder=folder)
    paragraph += [button, nodes.Text(" "), *_inline(text)]
    if link.caveat:
        caveat = nodes.strong(classes=["handbook-launch-caveat"])
        caveat += _inline(words["caveat"].format(site=site, reason=link.caveat))
        paragraph += [nodes.Text(" "), caveat]
    return paragraph


def add_launch_link(app: Sphinx, doctree: nodes.document) -> None:
    docname = app.env.docname
    source = Path(app.env.doc2path(docname))
    if not docname.startswith("examples/") or source.suffix != ".ipynb":
        return
    profile = get_profile(app)
    try:
        example = load_example(source, profile)
    except HandbookInputError:
        return  # the verification banner and the doc CI name what is wrong
    hub = str(profile.site.hub_url).rstrip("/")
    paragraph = launch_paragraph(launch_link(example, profile), hub, profile.site.short_name)
    banner = next(
        iter(
            doctree.findall(
                lambda n: isinstance(n, nodes.admonition) and "handbook-verification" in n["classes"]
            )
        ),
        None,
    )
    if banner is not None:
        banner.parent.insert(banner.parent.index(banner) + 1, paragraph)


def setup_launch_link(app: Sphinx) -> None:
    # After the verification banner, which this goes under.
    app.connect("doctree-read", add_launch_link, priority=600)
