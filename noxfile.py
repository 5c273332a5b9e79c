"""Sessions for building, checking and operating the handbook. `nox -l` lists them."""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "venv"
# Installing Jupyter Book takes a minute; reuse each session's environment between runs.
nox.options.reuse_venv = "yes"
nox.options.sessions = ["book"]


def _install(session: nox.Session, *extras: str) -> None:
    target = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", target)


@nox.session(default=True)
def book(session: nox.Session) -> None:
    """Build the HTML handbook into _build/html (`-- --site PROFILE` builds another centre's)."""
    _install(session)
    session.run("hpc-handbook", "book", *session.posargs)


@nox.session(default=False)
def test(session: nox.Session) -> None:
    """Stand up the reference site if it is down, then run the whole test suite."""
    _install(session, "test")
    session.run("hpc-handbook", "site", "up", external=False)
    session.run("pytest", *session.posargs)


@nox.session(default=False)
def site(session: nox.Session) -> None:
    """Manage the reference site: `nox -s site -- up|down|status`."""
    _install(session)
    session.run("hpc-handbook", "site", *(session.posargs or ["status"]))


@nox.session(default=False)
def profile(session: nox.Session) -> None:
    """Validate the site profile (`-- --site PROFILE` checks another one)."""
    _install(session)
    session.run("hpc-handbook", "profile", *session.posargs)


@nox.session(default=False)
def changelog(session: nox.Session) -> None:
    """Validate the changelog fragments (`-- DIR` checks another folder)."""
    _install(session)
    session.run("hpc-handbook", "changelog", "check", *session.posargs)


@nox.session(default=False)
def examples(session: nox.Session) -> None:
    """Doc CI: run every example on the site's kernels and compare with its reference outputs."""
    _install(session)
    session.run("hpc-handbook", "examples", *session.posargs)


@nox.session(default=False)
def refresh(session: nox.Session) -> None:
    """Re-execute examples on the site and write their reference outputs (`-- NAME...`)."""
    _install(session)
    session.run("hpc-handbook", "refresh", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Measure the example runner against papermill + pytest --nbval, side by side."""
    _install(session, "test")
    session.run("hpc-handbook", "bench", *session.posargs)


@nox.session(default=False)
def probe(session: nox.Session) -> None:
    """Probe the site into book/data/snapshot.json and write changelog fragments for what changed."""
    # The probe reports the JupyterLab it runs beside, so the session has one.
    _install(session)
    session.install("jupyterlab")
    session.run("hpc-handbook", "probe", *(session.posargs or ["--changelog", "changelog"]))
    if not session.posargs:
        # What the book claims must still hold for the site just probed.
        session.run("hpc-handbook", "drift", "--snapshot", "book/data/snapshot.json")


@nox.session(default=False)
def drift(session: nox.Session) -> None:
    """Compare what site.yml (and so the book) claims with a fresh probe of the site."""
    _install(session)
    session.install("jupyterlab")
    session.run("hpc-handbook", "drift", *session.posargs)


@nox.session(name="waiting-times", default=False)
def waiting_times(session: nox.Session) -> None:
    """Collect queue waiting times into book/data/ (`-- generate` first submits a short job mix)."""
    _install(session)
    session.run("hpc-handbook", "waiting-times", *(session.posargs or ["collect"]))
