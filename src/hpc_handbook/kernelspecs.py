"""Where a site's kernelspecs live, so that tools see the site's kernels and no others.

A virtual environment's own `python3` kernelspec, or the user's, would otherwise shadow
the site's. The probe, the doc CI and the bench all look here; so does the reference site.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_client.kernelspec import KernelSpecManager

#: The site's kernelspecs live here; it must come first so a venv's own python3 cannot shadow them.
SITE_JUPYTER_DATA_DIR = "/usr/local/share/jupyter"


def site_jupyter_path() -> str:
    """Return the JUPYTER_PATH that puts the site's kernelspecs before any venv's own."""
    site_dir = SITE_JUPYTER_DATA_DIR
    existing = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != site_dir]
    return os.pathsep.join([site_dir, *existing])


@contextlib.contextmanager
def site_jupyter_environment() -> Iterator[None]:
    """Point jupyter_client at the site's kernelspecs for the duration of the block."""
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = site_jupyter_path()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved


def site_kernel_dirs() -> list[str]:
    """Kernel folders of the site: JUPYTER_PATH and the system folders, not the prober's own.

    The user's folder and the running venv's folder describe whoever runs the probe, not
    the site, and would make two admins' snapshots differ.
    """
    from jupyter_core import paths

    own = {
        os.path.realpath(paths.jupyter_data_dir()),
        os.path.realpath(os.path.join(sys.prefix, "share", "jupyter")),
    }
    system = {os.path.realpath(p) for p in paths.SYSTEM_JUPYTER_PATH}
    dirs = []
    for data_dir in paths.jupyter_path():
        real = os.path.realpath(data_dir)
        if real in own and real not in system:
            continue
        dirs.append(os.path.join(data_dir, "kernels"))
    return dirs


def site_kernel_spec_manager() -> KernelSpecManager:
    """A jupyter_client KernelSpecManager that sees only the site's kernelspecs."""
    # Imported here: jupyter_client takes a while to import, and most callers never need it.
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager(kernel_dirs=[os.path.join(SITE_JUPYTER_DATA_DIR, "kernels")])
