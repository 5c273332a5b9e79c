"""The site parameters: the values an example's `parameters` cell may ask for, by name.

The doc CI injects them with papermill, and the book's `{site}` role knows each one by the
same name, so a page and its example say the same thing in the same words.
"""

from __future__ import annotations

import re
from typing import Any

from hpc_handbook.profile import Profile


def site_parameters(profile: Profile) -> dict[str, Any]:
    """The values an example's `parameters` cell may ask for, all taken from the site profile."""
    interactive, batch = profile.interactive_partition, profile.batch_partition
    values: dict[str, Any] = {
        "site_name": profile.site.name,
        "site_short_name": profile.site.short_name,
        "hub_url": str(profile.site.hub_url),
        "support_email": profile.support.email,
        "issue_tracker": str(profile.support.issue_tracker),
        "interactive_partition": interactive.name,
        "batch_partition": batch.name,
        "batch_max_walltime": batch.limits.max_walltime,
        "interactive_max_walltime": interactive.limits.max_walltime,
        "no_jupyter_partitions": [p.name for p in profile.partitions if not p.jupyter],
        "module_path": profile.modules.paths[0],
        "relied_on_modules": list(profile.modules.relied_on),
        "kernel_names": [k.name for k in profile.kernels],
    }
    roles = profile.kernel_roles
    if "modules" in roles:
        modules = list(roles["modules"].modules)
        values["module_kernel"] = roles["modules"].name
        values["module_kernel_modules"] = modules
        # The module kernel loads its compiler first and the module that provides Python last.
        values["compiler_module"], values["python_module"] = modules[0], modules[-1]
        if profile.extra_library_module is not None:
            values["library_module"] = profile.extra_library_module
    if "slurm" in roles:
        values["slurm_kernel"] = roles["slurm"].name
    if "gpu" in roles:
        values["gpu_kernel"] = roles["gpu"].name
    if "container" in roles:
        container = roles["container"]
        values["container_kernel"] = container.name
        values["container_image"] = next(i.reference for i in profile.containers if i.name == container.image)
    values.update(_node_parameters(profile))
    if profile.jupyter.own_environment is not None:
        values["own_start_script"] = profile.jupyter.own_environment.script
    for module in profile.modules.relied_on:
        family = re.sub(r"[^a-z0-9]+", "_", module.split("/")[0].lower())
        values.setdefault(f"{family}_module", module)
    for filesystem in profile.filesystems:
        values[f"{filesystem.name}_path"] = filesystem.path
    return values


#: Parameters only some sites have a value for: a site without the kernel role, the node feature or
#: the GPU partition they name skips the examples that assign them, where another site runs them.
OPTIONAL_PARAMETERS = frozenset(
    {
        "module_kernel",
        "module_kernel_modules",
        "compiler_module",
        "python_module",
        "library_module",
        "slurm_kernel",
        "gpu_kernel",
        "container_kernel",
        "container_image",
        "batch_node_feature",
        "gpu_partition",
        "gpus_per_node",
        "own_start_script",
    }
)


def _node_parameters(profile: Profile) -> dict[str, Any]:
    """The batch partition's nodes and the first partition with GPUs, for the multi-node recipes."""
    batch = profile.batch_partition.node_setup
    values: dict[str, Any] = {"batch_nodes": batch.node_names, "batch_node_count": batch.count}
    if batch.features:
        values["batch_node_feature"] = batch.features[0]
    with_gpus = [p for p in profile.partitions if p.limits.gpus_per_node > 0]
    if with_gpus:
        values["gpu_partition"] = with_gpus[0].name
        values["gpus_per_node"] = with_gpus[0].limits.gpus_per_node
    return values
