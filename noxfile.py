"""Sessions for building, checking and operating the handbook. `nox -l` lists them."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.sessions = ["book"]

#: The environment the sessions share (installing Jupyter Book once is enough), and its extras.
SHARED_ENV = (Path(".nox") / "handbook", "test")
#: The probe reports the JupyterLab it runs beside. JupyterLab's dependencies make every
#: import of nbformat seconds slower, so it stays out of the environment the others share.
LAB_ENV = (Path(".nox") / "handbook-lab", "test,lab")
#: Part of the install stamp: a change of how environments are installed reinstalls them.
INSTALL_VERSION = b"compileall"
#: Everything `nox -s lint` checks with ruff: the tooling, its tests and the reference site's scripts.
LINT_PATHS = ("src", "tests", "tools", "reference_site", "noxfile.py")


def _uv() -> str | None:
    """uv from nox's own environment (`pip install 'nox[uv]'`) or from PATH."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    return find_uv_bin()


def _shared(session: nox.Session, env: tuple[Path, str] = SHARED_ENV) -> Path:
    """Create or update a shared environment; return its bin folder."""
    location, extras = env
    python = location / "bin" / "python"
    # The project is installed editable, so only a change of its dependencies needs an install.
    wanted = hashlib.sha256(Path("pyproject.toml").read_bytes() + INSTALL_VERSION).hexdigest()
    stamp = location / ".pyproject-sha256"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return (location / "bin").resolve()
    uv = _uv()
    if uv is not None:
        if not python.exists():
            session.run(uv, "venv", "--quiet", "--seed", str(location), external=True)
        # uv checks what is installed against the project in well under a second.
        session.run(
            uv, "pip", "install", "--quiet", "--python", str(python), "-e", f".[{extras}]", external=True
        )
    else:
        session.warn("uv not found: installing with pip (slower); `pip install 'nox[uv]'` fixes it")
        if not python.exists():
            session.run("python3", "-m", "venv", str(location), external=True)
        session.run(str(python), "-m", "pip", "install", "--quiet", "-e", f".[{extras}]", external=True)
    # With PYTHONDONTWRITEBYTECODE set, as on some machines, every process would otherwise
    # compile Sphinx and the rest of the environment again: seconds for each build.
    session.run(str(python), "-m", "compileall", "-q", "-j", "0", str(location / "lib"), "src", external=True)
    stamp.write_text(wanted)
    return (location / "bin").resolve()


def _handbook(session: nox.Session, *args: str, env: tuple[Path, str] = SHARED_ENV) -> None:
    """Run `hpc-handbook ARGS` from a shared environment."""
    bin_dir = _shared(session, env)
    session.run(str(bin_dir / "hpc-handbook"), *args, external=True)


def shared_session(name: str | None = None, *, default: bool = False):  # type: ignore[no-untyped-def]
    """A session that runs in the shared environment instead of one of its own."""
    return nox.session(name=name, venv_backend="none", default=default)


@shared_session(default=True)
def book(session: nox.Session) -> None:
    """Build the HTML handbook into _build/html (`-- --site PROFILE` builds another centre's)."""
    _handbook(session, "book", *session.posargs)


@shared_session()
def test(session: nox.Session) -> None:
    """Bring the reference site to the profile, then run the whole test suite."""
    bin_dir = _shared(session)
    session.run(str(bin_dir / "hpc-handbook"), "site", "up", external=True)
    session.run(str(bin_dir / "pytest"), *session.posargs, external=True)


@shared_session()
def lint(session: nox.Session) -> None:
    """Check lint and formatting with ruff, and types on src/ with mypy."""
    bin_dir = _shared(session)
    session.run(str(bin_dir / "ruff"), "check", *LINT_PATHS, external=True)
    session.run(str(bin_dir / "ruff"), "format", "--check", *LINT_PATHS, external=True)
    # pyproject.toml's [tool.mypy] says which modules lack type hints.
    session.run(str(bin_dir / "mypy"), "src", external=True)


@shared_session()
def site(session: nox.Session) -> None:
    """Manage the reference site: `nox -s site -- up|down|status|reset`."""
    _handbook(session, "site", *(session.posargs or ["status"]))


@shared_session()
def profile(session: nox.Session) -> None:
    """Validate the site profile (`-- --site PROFILE` checks another one)."""
    _handbook(session, "profile", *session.posargs)


@shared_session()
def changelog(session: nox.Session) -> None:
    """Validate the changelog fragments (`-- DIR` checks another folder)."""
    _handbook(session, "changelog", "check", *session.posargs)


@shared_session()
def examples(session: nox.Session) -> None:
    """Doc CI: run every example on the site's kernels and compare outputs, check every page's
    statements about the site (the prose check, in the same report), follow every page's
    "Open on the hub" link, then the UI check."""
    if session.posargs:
        _handbook(session, "examples", *session.posargs)
        return
    # A whole run also checks the hub's and JupyterLab's views against the novice pages' pictures,
    # even when an example failed: both kinds of drift are reported in one run.
    failed = []
    for command in ("examples", "launch-links", "ui-check"):
        try:
            _handbook(session, command)
        except nox.command.CommandFailed:
            failed.append(command)
    if failed:
        session.error(f"failed: hpc-handbook {' and '.join(failed)}")


@shared_session()
def prose(session: nox.Session) -> None:
    """Check what every page and example says about the site against the profile and the snapshot."""
    _handbook(session, "prose", *session.posargs)


@shared_session()
def preview(session: nox.Session) -> None:
    """Build the book strictly with a page listing what a change touched (`-- --changed-since REF`)."""
    _handbook(session, "preview", *session.posargs)


@shared_session()
def refresh(session: nox.Session) -> None:
    """Re-execute examples on the site and write their reference outputs (`-- NAME...`); without names
    also the screenshots, the doc-CI page's recorded alert, and every waiting or spawn time older than
    the site."""
    _handbook(session, "refresh", *session.posargs)
    if not session.posargs:
        _handbook(session, "screenshots")
        # The alerts of a run with one example planted to fail, for the doc-CI page.
        _handbook(session, "alert-example")
        # Waiting and spawn times that miss a partition or place of the site are measured again.
        _handbook(session, "stale-data", "--measure")


@shared_session()
def screenshots(session: nox.Session) -> None:
    """Re-record the novice pages' screenshots of the hub and JupyterLab, and the UI check's record."""
    _handbook(session, "screenshots", *session.posargs)


@shared_session()
def bench(session: nox.Session) -> None:
    """Time the example runner against its peers, then the hub's spawns and a load run (`-- --count N`)."""
    _handbook(session, "bench", *session.posargs)
    # The service's figures land in book/data/service-measurements.json, for the scorecard.
    _handbook(session, "service-bench")
    # The spawn form's start forecast against real starts: book/data/forecast-accuracy.json.
    _handbook(session, "forecast-bench")


@shared_session()
def probe(session: nox.Session) -> None:
    """Probe the site into book/data/snapshot.json and write changelog fragments for what changed."""
    _handbook(session, "probe", *(session.posargs or ["--changelog", "changelog"]), env=LAB_ENV)
    if not session.posargs:
        # What the book claims must still hold for the site just probed.
        _handbook(session, "drift", "--snapshot", "book/data/snapshot.json", env=LAB_ENV)


@shared_session()
def drift(session: nox.Session) -> None:
    """Compare what site.yml (and so the book) claims with a fresh probe of the site."""
    _handbook(session, "drift", *session.posargs, env=LAB_ENV)


@shared_session(name="waiting-times")
def waiting_times(session: nox.Session) -> None:
    """Collect queue waiting times into book/data/ (`-- generate` first submits a short job mix)."""
    _handbook(session, "waiting-times", *(session.posargs or ["collect"]))
