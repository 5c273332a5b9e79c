"""The handbook's repository as the reference site's servers reach it: a mirror of its examples.

The pages' "Open on the hub" links name the centre's repository (`site.repository_url`), and
nbgitpuller clones it in the user's server. The reference site has no network, so its
servers' git reads that address from a bare repository on this machine (git's
`url.<mirror>.insteadOf`, given to the servers by the hub), as a site behind a firewall does.
`site up` commits the examples the book is built from onto the mirror's branch, on top of
what it had: a user's clone merges the new commit and keeps their own changes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hpc_handbook.examples.launch_link import EXAMPLES_FOLDER
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.paths import ReferenceSiteError, reference_site_dir, site_layout
from hpc_handbook.reference_site.system import Log, run, write_if_changed

#: Who the mirror's commits are by: the site, never a person.
COMMITTER = ("-c", "user.name=Reference site", "-c", "user.email=reference-site@localhost")
#: What is not part of the examples a user pulls.
LEFT_OUT = (".ipynb_checkpoints", "__pycache__")


def mirror_path(profile: Profile) -> Path:
    return site_layout(profile).prefix / "hub" / "handbook.git"


def gitconfig_path(profile: Profile) -> Path:
    return site_layout(profile).prefix / "hub" / "gitconfig"


def mirror_gitconfig(profile: Profile) -> str:
    """Git's settings for the servers: read the profile's repository from the mirror, and trust it."""
    mirror = mirror_path(profile)
    return (
        "# Written by `hpc-handbook site up`: the servers' git reads the handbook's repository from\n"
        "# the site's mirror of it. Git trusts a repository of another account (root's) only where\n"
        "# system or global settings say so, hence a system file of the servers' own.\n"
        f'[url "{mirror.as_uri()}"]\n'
        f"\tinsteadOf = {str(profile.site.repository_url).rstrip('/')}\n"
        "[safe]\n"
        f"\tdirectory = {mirror}\n"
    )


def mirror_environment(profile: Profile) -> dict[str, str]:
    """What the servers' git needs to read the profile's repository from the mirror."""
    return {"GIT_CONFIG_SYSTEM": str(gitconfig_path(profile))}


def _git(*arguments: str | Path, cwd: Path | None = None) -> str:
    where = ["-C", str(cwd)] if cwd is not None else []
    answer = run(["git", *where, *COMMITTER, *map(str, arguments)], check=False, timeout=120)
    if answer.returncode != 0:
        failure = answer.stderr.strip()
        raise ReferenceSiteError(f"git {arguments[0]} for the examples mirror failed: {failure}")
    return str(answer.stdout)


def ensure_examples_mirror(profile: Profile, log: Log, examples: Path | None = None) -> bool:
    """Commit the examples onto the mirror's branch when they changed; True when it did."""
    examples = examples or reference_site_dir().parent / EXAMPLES_FOLDER
    mirror, branch = mirror_path(profile), profile.site.repository_branch
    if not (mirror / "HEAD").exists():
        mirror.parent.mkdir(parents=True, exist_ok=True)
        _git("init", "--quiet", "--bare", f"--initial-branch={branch}", mirror)
    with tempfile.TemporaryDirectory(prefix="handbook-mirror-") as folder:
        work = Path(folder) / "work"
        _git("clone", "--quiet", mirror, work)
        _git("checkout", "--quiet", "-B", branch, cwd=work)
        shutil.rmtree(work / EXAMPLES_FOLDER, ignore_errors=True)
        shutil.copytree(examples, work / EXAMPLES_FOLDER, ignore=shutil.ignore_patterns(*LEFT_OUT))
        _git("add", "--all", cwd=work)
        if not _git("status", "--porcelain", cwd=work).strip():
            return False
        _git("commit", "--quiet", "-m", "The examples as the handbook's pages show them", cwd=work)
        _git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
    log(f"examples mirror: the examples committed to {branch} of {mirror}")
    return True


def ensure_mirror_gitconfig(profile: Profile) -> None:
    write_if_changed(gitconfig_path(profile), mirror_gitconfig(profile))
