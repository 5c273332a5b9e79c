"""Run the site's own tools the way every part of the probe does."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


def run_command(
    command: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its output; a failure is the caller's to read, never raised."""
    return subprocess.run(
        list(command), capture_output=True, text=True, check=False, env=env, timeout=timeout
    )
