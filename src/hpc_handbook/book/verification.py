"""Verified badges: each example page says when and where its outputs were last checked.

The verdict comes from the doc CI's last report (`_build/reports/examples.json`) when
one exists for this site, else from the `handbook_verification` record that
`nox -s refresh` wrote into the notebook. A page built for another site's profile
does not show outputs recorded elsewhere: it says "not verified at this site".
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

from hpc_handbook.book.config import book_path
from hpc_handbook.book.generated import wording
from hpc_handbook.book.site_values import get_profile
from hpc_handbook.data.examples_report import EXAMPLES_REPORT, ExamplesReport, load_examples_report
from hpc_handbook.data.verification import RecordedPlace, VerificationRecord, verification_from_metadata
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import Profile

LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What an example page says about its outputs."""

    result: Literal["passed", "failed", "skipped", "elsewhere", "unverified"]
    reason: str = ""
    date: str = ""
    kernels: tuple[str, ...] = ()
    #: Which run the verdict comes from, as the badge names it.
    source: str = ""
    #: Why the verification is older than the site (a kernel it has not run on yet); empty if current.
    stale: str = ""
    #: Where the kernel ran (a partition of None: the login node); None when the run did not record it.
    place: RecordedPlace | None = None
    #: What the run had: the kernel's language and the Jupyter server's packages, with versions.
    environment: tuple[tuple[str, str], ...] = ()
    #: The refresh that recorded the outputs on the page, when the verdict comes from a later run.
    recorded: VerificationRecord | None = None


def verdict_for(
    example: str, recorded: VerificationRecord | None, report: ExamplesReport | None, site: str
) -> Verdict:
    """Combine the notebook's refresh record with the last report into one verdict for the page."""
    ours = recorded if recorded is not None and recorded.site == site else None
    if report is not None and report.site == site:
        rows = [r for r in report.results if r.example == example]
        if rows:
            statuses = {r.status for r in rows}
            result: Literal["passed", "failed", "skipped"] = (
                "failed" if "failed" in statuses else "passed" if "passed" in statuses else "skipped"
            )
            reasons = [
                f"{r.kernel}{f' in {r.environment}' if r.environment else ''}: {r.reason.splitlines()[0]}"
                for r in rows
                if r.reason
            ]
            return Verdict(
                result=result,
                reason="; ".join(reasons),
                date=report.date,
                # A novice example runs once per environment on the same kernel: each kernel once.
                kernels=tuple(dict.fromkeys(r.kernel for r in rows)),
                source="the last documentation test",
                place=RecordedPlace(partition=rows[0].partition),
                recorded=ours if ours is not None and ours.result == "passed" else None,
            )
    if ours is not None:
        return Verdict(
            result=ours.result,
            reason=ours.reason or "",
            date=ours.date,
            kernels=tuple(ours.kernels),
            source="the refresh that recorded these outputs",
            place=ours.place,
            environment=tuple(ours.environment.items()),
        )
    if recorded is not None:
        return Verdict("elsewhere", "the outputs on this page were recorded at another site")
    return Verdict("unverified", "no run has recorded outputs for this example yet")


def versions_text(environment: Iterable[tuple[str, str]]) -> str:
    """`Python 3.11.2, JupyterLab 4.5.6 and Jupyter Server 2.21.1`: the language first, then the server."""
    words = wording("verification.yml")
    order = {name: index for index, name in enumerate(words["order"])}
    ranked = sorted(environment, key=lambda item: (order.get(item[0], len(order)), item[0]))
    parts = [f"{words['names'].get(name, name)} {version}" for name, version in ranked]
    return parts[0] if len(parts) < 2 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _place_text(place: RecordedPlace | None) -> str:
    words = wording("verification.yml")["place"]
    if place is None:
        return str(words["unknown"])
    return str(
        words["login"] if place.partition is None else words["partition"].format(partition=place.partition)
    )


def _environment_text(verdict: Verdict) -> str:
    words = wording("verification.yml")["environment"]
    if verdict.environment:
        return str(words["known"]).format(versions=versions_text(verdict.environment))
    # The doc CI's report records no environment: the banner says what the outputs were recorded with.
    return "" if verdict.recorded is not None else str(words["unknown"])


def _recorded_with(verdict: Verdict) -> str:
    if verdict.recorded is None or not verdict.recorded.environment:
        return ""
    versions = versions_text(verdict.recorded.environment.items())
    return str(wording("verification.yml")["recorded_with"]).format(
        date=verdict.recorded.date, versions=versions
    )


def banner_text(verdict: Verdict, site: str) -> tuple[str, str, str]:
    """The banner's title, its admonition kind and its text, with code in backticks."""
    words = wording("verification.yml")
    kernels = ", ".join(f"`{k}`" for k in verdict.kernels) or "unknown"
    facts = {"date": verdict.date, "site": site, "kernels": kernels, "source": verdict.source}
    if verdict.result == "passed":
        place, environment = _place_text(verdict.place), _environment_text(verdict)
        if verdict.place is None and not verdict.environment and verdict.recorded is None:
            place, environment = "", words["neither"]
        text = words["passed"].format(**facts, place=place, environment=environment) + _recorded_with(verdict)
        if verdict.stale:
            return words["titles"]["stale"], "warning", text + words["stale"].format(stale=verdict.stale)
        return words["titles"]["passed"], "tip", text
    if verdict.result == "failed":
        text = words["failed"].format(**facts, place=_place_text(verdict.place), reason=verdict.reason)
        return words["titles"]["failed"], "warning", text
    reason = verdict.reason or "no reason recorded"
    return words["titles"]["unverified"], "warning", words["unverified"].format(site=site, reason=reason)


def _badge(verdict: Verdict, site: str) -> nodes.Element:
    title, kind, text = banner_text(verdict, site)
    admonition = nodes.admonition(
        classes=[kind, "handbook-verification", f"handbook-verification-{verdict.result}"]
    )
    admonition += nodes.title(text=title)
    paragraph = nodes.paragraph()
    for index, part in enumerate(text.split("`")):
        paragraph += nodes.literal(text=part) if index % 2 else nodes.Text(part)
    admonition += paragraph
    return admonition


def _read_notebook(path: Path) -> dict[str, Any]:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return notebook if isinstance(notebook, dict) else {}


def _warn(error: HandbookInputError, docname: str) -> None:
    LOGGER.warning("%s", error.message, type="handbook", subtype="verification", location=docname)


def show_site_parameters(doctree: nodes.document, notebook: dict[str, Any], app: Sphinx) -> None:
    """Show the parameters cell with this build's site values, as the doc CI injects them."""
    from papermill.translators import papermill_translators, translate_parameters

    from hpc_handbook.site_facts import OPTIONAL_PARAMETERS, site_parameters

    values = site_parameters(get_profile(app))
    kernelspec = notebook.get("metadata", {}).get("kernelspec", {})
    for cell in doctree.findall(nodes.Element):
        if cell.get("nb_element") != "cell_code":
            continue
        metadata: dict[str, Any] = cell.get("cell_metadata") or {}
        if "parameters" not in metadata.get("tags", []):
            continue
        for block in cell.findall(nodes.literal_block):
            assigned = [
                name
                for name in (*values, *sorted(OPTIONAL_PARAMETERS - set(values)))
                if re.search(rf"^\s*{re.escape(name)}\s*(=|<-)", block.astext(), re.M)
            ]
            source = translate_parameters(
                kernelspec.get("name"),
                kernelspec.get("language"),
                {n: values[n] for n in assigned if n in values},
                "Site parameters",
            )
            # A name this site has no value for stays visible, so the reader sees why the example is skipped.
            translator = papermill_translators.find_translator(
                kernelspec.get("name"), kernelspec.get("language")
            )
            source += "".join(
                translator.comment(f"{n}: this site has none") + "\n" for n in assigned if n not in values
            )
            block.replace(block.children[0], nodes.Text(source.rstrip("\n")))
            block["rawsource"] = source


def name_this_sites_kernel(app: Sphinx, docname: str, notebook: dict[str, Any]) -> None:
    """Make the page name this build's kernel for the example, not the one it was recorded on."""
    from hpc_handbook.examples.contract import resolve_kernels

    profile = get_profile(app)
    selectors = notebook.get("metadata", {}).get("handbook", {}).get("kernels", [])
    try:
        kernels, _missing = resolve_kernels(list(selectors), profile, Path(app.env.doc2path(docname)))
    except HandbookInputError as error:
        LOGGER.warning("%s", error.message, type="handbook", subtype="kernel", location=docname)
        return
    if not kernels:
        # No kernel here runs the example: the recorded kernel is another site's.
        app.env.metadata[docname].pop("kernelspec", None)
        return
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
    report_path = book_path(app, "handbook_reports_dir") / EXAMPLES_REPORT
    env.note_dependency(str(source))
    if report_path.exists():
        env.note_dependency(str(report_path))
    notebook = _read_notebook(source)
    metadata = notebook.get("metadata")
    show_site_parameters(doctree, notebook, app)
    name_this_sites_kernel(app, docname, notebook)
    site = get_profile(app).site.short_name
    try:
        recorded = verification_from_metadata(metadata if isinstance(metadata, dict) else {}, file=source)
    except HandbookInputError as error:
        _warn(error, docname)
        recorded = None
    try:
        report = load_examples_report(report_path)
    except HandbookInputError as error:
        _warn(error, docname)
        report = None
    verdict = verdict_for(source.stem, recorded, report, site)
    verdict = dataclasses.replace(verdict, stale=_stale_reason(source, recorded, get_profile(app)))
    if recorded is None or recorded.site != site or recorded.result == "skipped":
        # Only outputs a run at this site recorded are shown: others would tell its readers something untrue.
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


def _stale_reason(source: Path, recorded: VerificationRecord | None, profile: Profile) -> str:
    """Why the record is older than the site: the kernels the contract resolves to now that it lacks."""
    from hpc_handbook.examples.contract import load_example
    from hpc_handbook.site_facts.freshness import stale_verifications

    try:
        example = load_example(source, profile)
    except HandbookInputError:
        return ""  # the doc CI names a notebook that breaks the contract
    stale = stale_verifications(
        {example.name: recorded}, {example.name: example.kernels}, profile.site.short_name
    )
    return f"not yet verified on kernel {', '.join(stale[0].names)}" if stale else ""


def setup_verification(app: Sphinx) -> None:
    app.connect("doctree-read", add_verification_badge)
