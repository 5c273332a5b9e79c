"""Breaking the site breaks exactly the examples that depend on it, with a clear reason.

These tests change the running reference site for a few seconds and always restore it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hpc_handbook.doc_ci.refresh import refresh_examples
from hpc_handbook.doc_ci.run.runner import run_examples

pytestmark = [pytest.mark.site, pytest.mark.usefixtures("leaves_nothing_behind")]


def verdicts(run) -> dict[str, tuple[str, str]]:
    return {r.example: (r.status, r.reason) for r in run.results}


def set_partition_state(name: str, state: str) -> None:
    subprocess.run(["scontrol", "update", f"PartitionName={name}", f"State={state}"], check=True)


def test_partition_down_fails_the_examples_placed_there(write_example, examples_dir, profile):
    batch = profile.batch_partition.name
    slurm_kernel = next(k for k in profile.kernels if k.start == "slurm" and k.partition == batch)
    write_example("placed", ["print('hi')"], runs_on={"partition": batch})
    write_example("slurm-kernel", ["print('hi')"], kernel=slurm_kernel.name)
    write_example("login", ["print('hi')"])
    refresh_examples(profile=profile, examples_dir=examples_dir)
    set_partition_state(batch, "DOWN")
    try:
        result = verdicts(run_examples(profile=profile, examples_dir=examples_dir))
    finally:
        set_partition_state(batch, "UP")
    assert result["placed"] == (
        "failed",
        f"partition '{batch}' is not available at this site (Slurm says: down)",
    )
    assert result["slurm-kernel"][0] == "failed" and f"partition '{batch}'" in result["slurm-kernel"][1]
    assert result["login"] == ("passed", "")


def test_changed_module_fails_the_module_kernel_only(write_example, examples_dir, profile):
    kernel = next(k for k in profile.kernels if k.start == "modules")
    family, version = kernel.modules[-1].split("/")
    modulefile = Path(profile.modules.paths[0]) / family / f"{version}.lua"
    write_example("module-kernel", ["print('hi')"], kernel=kernel.name)
    write_example("login", ["print('hi')"])
    refresh_examples(profile=profile, examples_dir=examples_dir)
    hidden = modulefile.with_name(f".{version}.lua.hidden")
    modulefile.rename(hidden)  # the update removed the version the kernel loads
    try:
        result = verdicts(run_examples(profile=profile, examples_dir=examples_dir))
    finally:
        hidden.rename(modulefile)
    status, reason = result["module-kernel"]
    assert status == "failed"
    assert f"kernel {kernel.name!r} failed to start" in reason
    assert kernel.modules[-1] in reason  # Lmod's own message names the missing module
    assert result["login"] == ("passed", "")
