"""The scope page: what the service is for, and which work belongs where.

The wording is in `data/scope.yml`; this module derives from the profile the facts it is
filled in with, and which of its answers holds at this site.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx

from hpc_handbook.book.generated import (
    GeneratedMyST,
    code_list,
    first_holding,
    languages,
    list_table,
    wording,
)
from hpc_handbook.profile import Partition, Profile

LIMITATIONS = "book/reference/limitations"


def _texts(name: str) -> dict[str, Any]:
    return wording("scope.yml")[name]


class UseCases(GeneratedMyST):
    """What people use Jupyter at an HPC centre for, and whether this site supports each use."""

    def facts(self, profile: Profile) -> dict[str, Any]:
        shared = [f.path for f in profile.filesystems if "$PROJECT" in f.path]
        gpu_partitions = [p for p in profile.partitions if p.limits.gpus_per_node > 0]
        gpu_in_jupyter = [p.name for p in gpu_partitions if p.jupyter]
        return {
            "site": profile.site.short_name,
            "languages": languages(profile),
            "interactive": profile.interactive_partition.name,
            "batch": profile.batch_partition.name,
            "project_path": shared[0] if shared else "",
            "bash_kernel": any(k.language.lower() == "bash" for k in profile.kernels),
            "gpu_jupyter_partitions": code_list(gpu_in_jupyter) if gpu_in_jupyter else "",
            "gpu_partitions": code_list([p.name for p in gpu_partitions]) if gpu_partitions else "",
            "gpus_scheduled_only": bool(gpu_partitions) and not profile.capabilities.gpu,
            "limitations_page": self.page((LIMITATIONS,)),
        }

    def markdown(self, profile: Profile) -> list[str]:
        texts, facts = _texts("use_cases"), self.facts(profile)
        rows = []
        for row in texts["rows"]:
            answer = first_holding(row["answers"], facts)
            rows.append([row["use"], answer["support"], answer["how"].format(**facts)])
        header = [cell.format(**facts) for cell in texts["header"]]
        return list_table(header, rows, widths="40 12 48")


class WhereToRun(GeneratedMyST):
    """Which work belongs on the login node and on each partition, and how to get it there."""

    def markdown(self, profile: Profile) -> list[str]:
        texts = _texts("where_to_run")
        login = texts["login"]
        login_kernels = [k.name for k in profile.kernels if k.start in ("local", "modules", "container")]
        rows = [[login["work"], login["where"], login["how"].format(login_kernels=code_list(login_kernels))]]
        for partition in profile.partitions:
            rows.append(self.partition_row(texts["partition"], partition, profile))
        return list_table(texts["header"], rows, widths="35 30 35")

    def partition_row(self, texts: dict[str, Any], partition: Partition, profile: Profile) -> list[str]:
        limits = partition.limits
        kernels = [k.name for k in profile.kernels if k.partition == partition.name]
        facts = {
            "partition": partition.name,
            "max_nodes": limits.max_nodes,
            "max_walltime": limits.max_walltime,
            "memory_gb": limits.memory_per_node_gb,
            "gpus": texts["gpus"].format(gpus_per_node=limits.gpus_per_node) if limits.gpus_per_node else "",
            "no_jupyter": not partition.jupyter,
            "interactive": partition.interactive,
            "kernels": code_list(kernels) if kernels else "",
        }
        how = first_holding(texts["answers"], facts)["how"]
        return [partition.purpose, texts["where"].format(**facts), how.format(**facts)]


def setup_scope(app: Sphinx) -> None:
    app.add_directive("site-use-cases", UseCases)
    app.add_directive("site-where-to-run", WhereToRun)
