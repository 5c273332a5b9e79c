"""`hpc-handbook site`: the reference site, a real local HPC site built from the site profile.

The handbook's examples are verified against this site, and a centre can stand up a
replica of its own profile with it. It is never a mock: Slurm (munged, slurmctld,
slurmd) schedules real jobs, Lmod loads real modulefiles that change the environment,
and the kernelspecs start real Jupyter kernels, some inside Slurm jobs.

One module per part: `paths` (where the site lives), `system` (commands, files,
processes), `slurm` (its configuration and daemons), `slurm_jobs`, `lmod`, `kernels`,
`lifecycle` (`up`, `down`, `reset`), `checks` (`site status` and the smoke tests) and `cli`.
The pure generators (profile in, text out) are unit-tested with any profile;
everything else changes the machine.
Tools outside the reference site never import it: they work on real sites too.
"""

from __future__ import annotations

from hpc_handbook.reference_site.checks import Check, check_site, show_status
from hpc_handbook.reference_site.cli import add_commands
from hpc_handbook.reference_site.kernels import (
    kernel_venv_packages,
    kernel_walltime,
    kernelspec,
    modules_kernel_launcher,
    site_jupyter_env,
    site_jupyter_path,
    site_kernel_spec_manager,
    slurm_kernel_launcher_script,
)
from hpc_handbook.reference_site.lifecycle import apt_packages, down, reset, up
from hpc_handbook.reference_site.lmod import (
    SiteModule,
    is_symlink_entry,
    module_environment,
    module_tree,
    modulefile,
    next_version,
    plan_modules,
    profile_d_script,
)
from hpc_handbook.reference_site.paths import (
    JOBCOMP_LOG,
    LMOD_INIT_BASH,
    R_EXECUTABLE,
    SITE_JUPYTER_DIR,
    ReferenceSiteError,
    site_layout,
)
from hpc_handbook.reference_site.slurm import KERNEL_JOB_COMMENT_ENV
from hpc_handbook.reference_site.slurm_conf import (
    SiteNode,
    gpu_device_files,
    gres_conf,
    parse_slurm_partitions,
    site_nodes,
    slurm_conf,
)
from hpc_handbook.reference_site.slurm_jobs import KERNEL_JOB_PREFIX, SlurmJob, cancel_jobs, slurm_jobs

__all__ = [
    "JOBCOMP_LOG",
    "KERNEL_JOB_COMMENT_ENV",
    "KERNEL_JOB_PREFIX",
    "LMOD_INIT_BASH",
    "R_EXECUTABLE",
    "SITE_JUPYTER_DIR",
    "Check",
    "ReferenceSiteError",
    "SiteModule",
    "SiteNode",
    "SlurmJob",
    "add_commands",
    "apt_packages",
    "cancel_jobs",
    "check_site",
    "down",
    "gpu_device_files",
    "gres_conf",
    "is_symlink_entry",
    "kernel_venv_packages",
    "kernel_walltime",
    "kernelspec",
    "module_environment",
    "module_tree",
    "modulefile",
    "modules_kernel_launcher",
    "next_version",
    "parse_slurm_partitions",
    "plan_modules",
    "profile_d_script",
    "reset",
    "show_status",
    "site_jupyter_env",
    "site_jupyter_path",
    "site_kernel_spec_manager",
    "site_layout",
    "site_nodes",
    "slurm_conf",
    "slurm_jobs",
    "slurm_kernel_launcher_script",
    "up",
]
