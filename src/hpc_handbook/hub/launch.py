"""An "Open on the hub" link: the server it asks for, and where the hub sends the browser.

A link reads `HUB/hub/handbook-launch?place=…&repo=…&branch=…&urlpath=…`: the spawn form's
options (`place`, and `environment`, `cpus`, `walltime` where the example needs them) and
nbgitpuller's (`repo`, `branch`, `urlpath`). The hub's handler sends the logged-in user to
JupyterHub's own spawn-through-URL for a named server of that place and environment, whose
options are checked as the form's are; once it runs, nbgitpuller pulls the handbook's
repository into the home and opens the notebook. A place or environment the site lacks gets
the form with the reason and its defaults, as any spawn-through-URL does.

This module uses the standard library alone: `site up` copies it next to the hub's
configuration, where the hub imports it; the book and the doc CI build and follow links with it.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

#: The handler's path under the hub's base URL.
LAUNCH_PATH = "hub/handbook-launch"
#: nbgitpuller's own parameters; every other one is a spawn option.
PULL_KEYS = ("repo", "branch", "urlpath")
#: A launched server's name starts with this, so users see where it came from.
SERVER_PREFIX = "handbook-"
LOGIN_PLACE = "login"


class LaunchError(ValueError):
    """A launch link this hub will not follow; the message says which part and why."""


def clone_folder(repository: str) -> str:
    """The folder in the home nbgitpuller clones a repository into: its last path part."""
    return repository.rstrip("/").split("/")[-1]


def server_name(options: dict[str, str]) -> str:
    """The named server a link's options start: one per place and environment."""
    parts = [
        options.get("place") or LOGIN_PLACE,
        *([options["environment"]] if options.get("environment") else []),
    ]
    return SERVER_PREFIX + "-".join(re.sub(r"[^A-Za-z0-9.]+", "-", part) for part in parts)


def launch_query(options: dict[str, str], *, repository: str, branch: str, notebook: str) -> str:
    """The link's query: the spawn options, then what nbgitpuller pulls and opens.

    `notebook` is the notebook's path in the repository.
    """
    urlpath = f"lab/tree/{clone_folder(repository)}/{notebook}"
    return urlencode({**options, "repo": repository, "branch": branch, "urlpath": urlpath})


def launch_redirect(query: dict[str, str], *, user: str, base_url: str, repository: str) -> str:
    """Where the hub sends a logged-in user who followed a link: JupyterHub's spawn-through-URL for the
    link's named server, with nbgitpuller's page as `next`. LaunchError for a link to another
    repository than the handbook's, or one without what nbgitpuller needs."""
    if query.get("repo", "").rstrip("/") != repository.rstrip("/"):
        raise LaunchError(
            f"repo {query.get('repo', '')!r}: this hub opens examples of the handbook's repository "
            f"{repository} only"
        )
    urlpath = query.get("urlpath", "")
    if not urlpath.startswith(f"lab/tree/{clone_folder(repository)}/") or ".." in urlpath.split("/"):
        raise LaunchError(
            f"urlpath {urlpath!r}: expected lab/tree/{clone_folder(repository)}/ and a notebook's path"
        )
    pull = {key: query[key] for key in PULL_KEYS if query.get(key)}
    options = {key: value for key, value in query.items() if key not in PULL_KEYS and key != "next"}
    server = server_name(options)
    home = f"{base_url}user/{quote(user, safe='')}/{server}/"
    spawn = f"{base_url}hub/spawn/{quote(user, safe='')}/{server}"
    # Never empty (the place at least), so JupyterHub spawns at once rather than showing the form.
    options.setdefault("place", LOGIN_PLACE)
    return f"{spawn}?{urlencode({**options, 'next': f'{home}git-pull?{urlencode(pull)}'})}"
