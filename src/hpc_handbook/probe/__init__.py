"""`hpc-handbook probe`: record what the site really offers in one deterministic snapshot.

The snapshot (`book/data/snapshot.json`) lists every site kernelspec with the versions its
own environment reports, the Lmod modules, the Slurm partitions and their nodes, and the
Jupyter server.
The system status page, the drift check and the changelog of system changes all read it.
Only the top-level `taken` date varies between two probes of an unchanged site, so it is
left out of every comparison and fingerprint. Its model, and how it is read and written,
is `hpc_handbook.data.snapshot`; what changed between two is `hpc_handbook.system_changes`.

One module per part of the site: `kernels`, `modules` (Lmod), `partitions` (Slurm) and
`jupyter` (the server), each with its parsers and one `probe_<part>` function; `snapshot`
assembles them and `command` is the command line. Nothing here imports the reference
site: the probe runs on real sites too.
"""

from __future__ import annotations

# Kept importable from here for the site tests and the job mix, which knew them as the probe's.
from hpc_handbook.data.snapshot import compared_content as compared_content
from hpc_handbook.data.snapshot import slurm_duration_seconds as slurm_duration_seconds
from hpc_handbook.kernelspecs import (
    SITE_JUPYTER_DATA_DIR,
    site_jupyter_environment,
    site_jupyter_path,
    site_kernel_dirs,
)
from hpc_handbook.probe.command import add_commands, run
from hpc_handbook.probe.jupyter import parse_labextension_list, parse_server_extension_list, probe_jupyter
from hpc_handbook.probe.kernels import (
    KernelProbeError,
    fingerprint,
    kernel_entry,
    kernel_start,
    parse_snippet_output,
    probe_kernel,
    probe_kernels,
    run_in_kernel,
    version_snippet,
)
from hpc_handbook.probe.modules import modules_from_lmod_json, modules_from_terse_avail, probe_modules
from hpc_handbook.probe.partitions import partitions_from_scontrol, probe_slurm
from hpc_handbook.probe.snapshot import probe_site, probe_snapshot
from hpc_handbook.slurm import KERNEL_JOB_COMMENT_ENV, ensure_jobs_gone, jobs_with_comment

__all__ = [
    "KERNEL_JOB_COMMENT_ENV",
    "SITE_JUPYTER_DATA_DIR",
    "KernelProbeError",
    "add_commands",
    "compared_content",
    "ensure_jobs_gone",
    "fingerprint",
    "jobs_with_comment",
    "kernel_entry",
    "kernel_start",
    "modules_from_lmod_json",
    "modules_from_terse_avail",
    "parse_labextension_list",
    "parse_server_extension_list",
    "parse_snippet_output",
    "partitions_from_scontrol",
    "probe_jupyter",
    "probe_kernel",
    "probe_kernels",
    "probe_modules",
    "probe_site",
    "probe_slurm",
    "probe_snapshot",
    "run",
    "run_in_kernel",
    "site_jupyter_environment",
    "site_jupyter_path",
    "site_kernel_dirs",
    "slurm_duration_seconds",
    "version_snippet",
]
