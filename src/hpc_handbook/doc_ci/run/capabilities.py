"""What the site offers that examples may require: Slurm, Lmod, GPUs, Apptainer, conda, GPU scheduling,
and servers from users' own start-up scripts.

An example that requires a capability the site lacks is skipped, with the reason found here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from hpc_handbook.profile import Profile


def _command_works(*command: str) -> bool:
    if shutil.which(command[0]) is None:
        return False
    try:
        return subprocess.run(command, capture_output=True, timeout=15, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def detect_capabilities(profile: Profile, *, through_hub: bool = True) -> dict[str, str | None]:
    """Each capability mapped to None when present, or to the reason it is missing."""
    lmod = os.environ.get("LMOD_CMD") or "/usr/share/lmod/lmod/libexec/lmod"
    found = {
        "slurm": None if _command_works("sinfo", "--noheader") else "Slurm does not answer (sinfo failed)",
        "lmod": None if Path(lmod).exists() else "Lmod is not installed",
    }
    for capability, probe, missing in (
        ("gpu", ("nvidia-smi", "-L"), "no GPU"),
        ("apptainer", ("apptainer", "--version"), "no Apptainer"),
        ("conda", ("conda", "--version"), "no conda"),
    ):
        if not getattr(profile.capabilities, capability):
            found[capability] = f"{missing}: the site profile does not offer it"
        elif not _command_works(*probe):
            found[capability] = f"{missing}: `{probe[0]}` does not work on this machine"
        else:
            found[capability] = None
    found["gpu_scheduling"] = _gpu_scheduling(profile, slurm_missing=found["slurm"])
    if profile.jupyter.own_environment is None:
        found["own_environment"] = "no own environment: the site profile offers none"
    elif not through_hub:
        found["own_environment"] = (
            "own environment: it starts through the hub, and this run has none (--direct)"
        )
    else:
        found["own_environment"] = None
    return found


def _gpu_scheduling(profile: Profile, *, slurm_missing: str | None) -> str | None:
    """None when Slurm hands out GPUs on some partition, else why not."""
    if not profile.capabilities.gpu_scheduling:
        return "no GPU scheduling: the site profile does not offer it"
    if slurm_missing:
        return f"no GPU scheduling: {slurm_missing}"
    try:
        gres = subprocess.run(
            ["sinfo", "--noheader", "--format=%G"], capture_output=True, text=True, timeout=15, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        gres = ""
    return None if "gpu" in gres else "no GPU scheduling: no Slurm node declares GPUs (sinfo %G)"
