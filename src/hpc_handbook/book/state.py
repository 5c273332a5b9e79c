"""What the extension remembers between builds, per page, in Sphinx's pickled environment.

One `EnvironmentCollector` owns it: Sphinx calls it to forget a page before re-reading it,
to merge what parallel readers collected, and to ask which pages are outdated for reasons
a noted dependency cannot express (a file that appears, a page added to the book).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.environment.collectors import EnvironmentCollector

from hpc_handbook.book.config import book_path
from hpc_handbook.changelog.fragments import fragment_paths

#: The environment attribute that holds the state; Sphinx pickles it with the environment.
ENV_ATTRIBUTE = "handbook_state"


@dataclass
class HandbookState:
    #: Per page, the build-wide views it shows: "changelog", "whats-new" or "scorecard".
    views: dict[str, set[str]] = field(default_factory=dict)
    #: Per page, the optional inputs it looked for that did not exist; their arrival re-reads it.
    missing_inputs: dict[str, set[str]] = field(default_factory=dict)
    #: Per page, the site facts it names that this site does not have (`key: reason`).
    fact_errors: dict[str, set[str]] = field(default_factory=dict)
    #: The changelog fragments' file names at the last build; None before the first.
    fragment_names: tuple[str, ...] | None = None

    def pages_with(self, kinds: Iterable[str]) -> set[str]:
        wanted = set(kinds)
        return {docname for docname, views in self.views.items() if views & wanted}


def handbook_state(env: BuildEnvironment) -> HandbookState:
    """The extension's state in this environment, created with the environment."""
    state = env.__dict__.get(ENV_ATTRIBUTE)
    if state is None:
        state = env.__dict__[ENV_ATTRIBUTE] = HandbookState()
    # An environment pickled by an older version of the extension lacks the newer fields.
    for name, value in vars(HandbookState()).items():
        if not hasattr(state, name):
            setattr(state, name, value)
    return state


def note_view(env: BuildEnvironment, kind: str) -> None:
    """Record that the page being read shows a build-wide view of this kind."""
    handbook_state(env).views.setdefault(env.docname, set()).add(kind)


def note_missing_input(env: BuildEnvironment, path: Path) -> None:
    """Record that the page being read looked for a file that does not exist yet."""
    handbook_state(env).missing_inputs.setdefault(env.docname, set()).add(str(path))


def changelog_page(env: BuildEnvironment) -> str | None:
    """The page that holds the full changelog, which feed entries and "What's new" link to."""
    return min(handbook_state(env).pages_with(["changelog"]), default=None)


class HandbookCollector(EnvironmentCollector):
    """Keep the handbook's per-page state right across incremental and parallel builds."""

    def clear_doc(self, app: Sphinx, env: BuildEnvironment, docname: str) -> None:
        state = handbook_state(env)
        state.views.pop(docname, None)
        state.missing_inputs.pop(docname, None)
        state.fact_errors.pop(docname, None)

    def merge_other(
        self, app: Sphinx, env: BuildEnvironment, docnames: set[str], other: BuildEnvironment
    ) -> None:
        state, theirs = handbook_state(env), handbook_state(other)
        pairs = (
            (state.views, theirs.views),
            (state.missing_inputs, theirs.missing_inputs),
            (state.fact_errors, theirs.fact_errors),
        )
        for mine, their in pairs:
            for docname in docnames & their.keys():
                mine.setdefault(docname, set()).update(their[docname])

    def process_doc(self, app: Sphinx, doctree: nodes.document) -> None:
        # The directives record what they show while they run; there is nothing left to collect.
        pass

    def get_outdated_docs(
        self, app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str], removed: set[str]
    ) -> list[str]:
        """Re-read pages whose view changed although none of their noted files did."""
        state = handbook_state(env)
        outdated = {
            docname
            for docname, paths in state.missing_inputs.items()
            if any(Path(path).is_file() for path in paths)
        }
        # An edited fragment is a noted dependency; an added or removed one is not.
        names = tuple(path.name for path in fragment_paths(book_path(app, "handbook_changelog_dir")))
        if state.fragment_names is not None and state.fragment_names != names:
            outdated |= state.pages_with(["changelog", "whats-new", "scorecard"])
        state.fragment_names = names
        # The scorecard counts and links pages, so a page added or removed changes it.
        if added or removed:
            outdated |= state.pages_with(["scorecard"])
        return sorted(outdated - removed)


def setup_state(app: Sphinx) -> None:
    app.add_env_collector(HandbookCollector)
