"""The UI check against the real service: a kernelspec taken away shows up as a missing Launcher tile.

The profile stays as it is; only the replica changes, as when an update loses a kernel. The
check runs as the doc CI runs it (`hpc-handbook ui-check`), in Chromium, as the novice account.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hpc_handbook.kernelspecs import SITE_JUPYTER_DATA_DIR
from hpc_handbook.profile import Profile

pytestmark = [pytest.mark.site, pytest.mark.browser, pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def ui_check(report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpc_handbook.cli", "ui-check", "--report", str(report)],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip


def test_a_removed_kernelspec_fails_the_ui_check_naming_the_launcher_and_its_page(
    site: Profile, tmp_path: Path
) -> None:
    kernel = site.kernel_roles["bash"]
    spec = Path(SITE_JUPYTER_DATA_DIR) / "kernels" / kernel.name
    display_name = json.loads((spec / "kernel.json").read_text())["display_name"]
    aside = spec.parent.parent / f"kernels-aside-{kernel.name}"
    spec.rename(aside)
    try:
        failed = ui_check(tmp_path / "without.md")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        report = (tmp_path / "without.md").read_text()
        for text in (failed.stdout, report):
            assert "JupyterLab's Launcher" in text
            assert "book/start/log-in.md" in text
            assert f'"Notebook: {display_name}", not found' in text
        # Only the missing kernel's tiles differ: its notebook and its console tile.
        assert failed.stdout.count("DRIFT") == 2, failed.stdout
    finally:
        if aside.exists():
            shutil.rmtree(spec, ignore_errors=True)
            aside.rename(spec)
    passed = ui_check(tmp_path / "with.md")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Every view shows" in (tmp_path / "with.md").read_text()
