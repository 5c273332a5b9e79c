"""Verified badges: each example page says when and where its outputs were last checked.

The verdict comes from the doc CI's last report (`_build/reports/examples.json`) when
one exists for this site, else from the `handbook_verification` record that
`nox -s refresh` wrote into the notebook. A page built for another site's profile
does not show outputs recorded elsewhere: it says "not verified at this site".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

from hpc_handbook.book.config import book_path
from hpc_handbook.book.site_values import get_profile

LOGGER = logging.getLogger(__name__)
VERIFICATION_KEY = "handbook_verification"  # written by hpc_handbook.doc_ci.refresh


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def verdict_for(
    example: str, notebook_meta: dict[str, Any], report: dict[str, Any] | None, site: str
) -> dict[str, Any]:
    """Combine the notebook's refresh record with the last report into one verdict for the page."""
    recorded = notebook_meta.get(VERIFICATION_KEY) or {}
    if report and report.get("site") == site:
        rows = [r for r in report.get("results", []) if r.get("example") == example]
        if rows:
            statuses = {r["status"] for r in rows}
            result = "failed" if "failed" in statuses else "passed" if "passed" in statuses else "skipped"
            reasons = [f"{r['kernel']}: {r['reason'].splitlines()[0]}" for r in rows if r.get("reason")]
            return {
                "date": report.get("date"),
                "site": site,
                "kernels": [r["kernel"] for r in rows],
                "result": result,
                "reason": "; ".join(reasons),
                "source": "the last documentation test",
            }
    if recorded.get("site") == site:
        return {**recorded, "source": "the refresh that recorded these outputs"}
    if recorded:
        return {"result": "elsewhere", "reason": "the outputs on this page were recorded at another site"}
    return {"result": "unverified", "reason": "no run has recorded outputs for this example yet"}


def _badge(verdict: dict[str, Any], site: str) -> nodes.Element:
    kernels = ", ".join(f"`{k}`" for k in verdict.get("kernels", []))
    result = verdict["result"]
    if result == "passed":
        title, kind = "Verified at this site", "tip"
        text = (
            f"Verified on {verdict['date']} at {site} on kernel {kernels or 'unknown'}, "
            f"by {verdict['source']}: passed."
        )
    elif result == "failed":
        title, kind = "This example failed its last check", "warning"
        text = (
            f"On {verdict['date']} at {site}, {verdict['source']} failed on kernel {kernels}: "
            f"{verdict.get('reason', '')}. "
            "What you see on the system may differ from the outputs below."
        )
    else:
        title, kind = "Not verified at this site", "warning"
        reason = (verdict.get("reason") or "no reason recorded").removeprefix("not verified at this site: ")
        text = f"Not verified at {site}: {reason}."
    admonition = nodes.admonition(classes=[kind, "handbook-verification", f"handbook-verification-{result}"])
    admonition += nodes.title(text=title)
    paragraph = nodes.paragraph()
    for index, part in enumerate(text.split("`")):
        paragraph += nodes.literal(text=part) if index % 2 else nodes.Text(part)
    admonition += paragraph
    return admonition


def show_site_parameters(doctree: nodes.document, notebook: dict[str, Any], app: Sphinx) -> None:
    """Show the parameters cell with this build's site values, as the doc CI injects them."""
    from papermill.translators import translate_parameters

    from hpc_handbook.doc_ci.contract import site_parameters

    values = site_parameters(get_profile(app))
    kernelspec = notebook.get("metadata", {}).get("kernelspec", {})
    for cell in doctree.findall(
        lambda n: isinstance(n, nodes.Element) and n.get("nb_element") == "cell_code"
    ):
        if "parameters" not in cell.get("cell_metadata", {}).get("tags", []):
            continue
        for block in cell.findall(nodes.literal_block):
            names = [
                name for name in values if re.search(rf"^\s*{re.escape(name)}\s*(=|<-)", block.astext(), re.M)
            ]
            source = translate_parameters(
                kernelspec.get("name"),
                kernelspec.get("language"),
                {n: values[n] for n in names},
                "Site parameters",
            )
            block.replace(block.children[0], nodes.Text(source.rstrip("\n")))
            block["rawsource"] = source


def name_this_sites_kernel(app: Sphinx, docname: str, notebook: dict[str, Any]) -> None:
    """Make the page name this build's kernel for the example, not the one it was recorded on."""
    from hpc_handbook.doc_ci.contract import resolve_kernels
    from hpc_handbook.errors import HandbookInputError

    profile = get_profile(app)
    selectors = notebook.get("metadata", {}).get("handbook", {}).get("kernels", [])
    try:
        kernels, _missing = resolve_kernels(list(selectors), profile, Path(app.env.doc2path(docname)))
    except HandbookInputError as error:
        LOGGER.warning("%s", error.message, type="handbook", subtype="kernel", location=docname)
        return
    if kernels:
        kernel = profile.kernel(kernels[0])
        # sphinx-thebe and the page's metadata read the kernelspec from here.
        app.env.metadata[docname]["kernelspec"] = {
            "name": kernel.name,
            "display_name": kernel.display_name,
            "language": kernel.language,
        }


def add_verification_badge(app: Sphinx, doctree: nodes.document) -> None:
    env = app.env
    docname = env.docname
    source = Path(env.doc2path(docname))
    if not docname.startswith("examples/") or source.suffix != ".ipynb":
        return
    report_path = book_path(app, "handbook_reports_dir") / "examples.json"
    env.note_dependency(str(source))
    if report_path.exists():
        env.note_dependency(str(report_path))
    notebook = _read_json(source) or {}
    notebook_meta = notebook.get("metadata", {})
    show_site_parameters(doctree, notebook, app)
    name_this_sites_kernel(app, docname, notebook)
    site = get_profile(app).site.short_name
    verdict = verdict_for(source.stem, notebook_meta, _read_json(report_path), site)
    if verdict["result"] == "elsewhere":
        # Outputs recorded at another site would tell this site's readers something untrue.
        for output in list(
            doctree.findall(
                lambda n: isinstance(n, nodes.Element) and n.get("nb_element") == "cell_code_output"
            )
        ):
            output.parent.remove(output)
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        LOGGER.warning("example %s has no title", docname, type="handbook", subtype="verification")
        return
    title_index = next((i for i, child in enumerate(section.children) if isinstance(child, nodes.title)), -1)
    section.insert(title_index + 1, _badge(verdict, site))


def setup_verification(app: Sphinx) -> None:
    app.connect("doctree-read", add_verification_badge)
