"""Directives that render tables of profile values: partitions, the spawn form's places and
environments, kernels, filesystems and modules."""

from __future__ import annotations

from sphinx.application import Sphinx

from hpc_handbook.book.generated import GeneratedMyST, list_table
from hpc_handbook.profile import OWN_ENVIRONMENT, Profile


class ProfileTableDirective(GeneratedMyST):
    """Base for directives that render a table of profile values."""

    container_class = "handbook-profile-table"

    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        raise NotImplementedError

    def markdown(self, profile: Profile) -> list[str]:
        header, rows = self.rows(profile)
        return list_table(header, rows)


class PartitionsTable(ProfileTableDirective):
    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        header = [
            "Partition",
            "System",
            "Purpose",
            "Jupyter",
            "Max nodes",
            "Max walltime",
            "GPUs/node",
            "Memory/node",
        ]
        rows = [
            [
                f"`{partition.name}`",
                system.name,
                partition.purpose,
                "yes" if partition.jupyter else "**no**",
                str(partition.limits.max_nodes),
                partition.limits.max_walltime,
                str(partition.limits.gpus_per_node),
                f"{partition.limits.memory_per_node_gb} GB",
            ]
            for system in profile.systems
            for partition in system.partitions
        ]
        return header, rows


class SpawnFormTable(ProfileTableDirective):
    """The spawn form's "where your server runs" choices, with the limits the form enforces."""

    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        header = ["Where your server runs", "Walltime", "Nodes", "While you wait"]
        rows = [["The login node", "until you stop it", "—", "nothing: it starts at once"]]
        rows += [
            [
                f"Partition `{partition.name}`",
                f"up to {partition.limits.max_walltime}",
                f"up to {partition.limits.max_nodes}",
                "the hub shows a waiting page until Slurm starts the job",
            ]
            for partition in profile.jupyter_partitions
        ]
        return header, rows


class EnvironmentsTable(ProfileTableDirective):
    """The spawn form's JupyterLab environments, the default first, and the user's own start-up script."""

    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        header = ["On the form", "In a link", "JupyterLab", "Extensions", "Offered"]
        rows = [
            [
                environment.label + (" (the default)" if environment.default or i == 0 else ""),
                f"`environment={environment.name}`",
                environment.jupyterlab or "the site's",
                ", ".join(f"`{name}`" for name in environment.extensions) or "none",
                f"until {environment.retires.isoformat()}"
                if environment.retires
                else "until a newer one replaces it",
            ]
            for i, environment in enumerate(profile.jupyter.offered)
        ]
        own = profile.jupyter.own_environment
        if own is not None:
            rows.append(
                [
                    f"My own environment (`~/{own.script}`)",
                    f"`environment={OWN_ENVIRONMENT}`",
                    "yours",
                    "any you install",
                    "always",
                ]
            )
        return header, rows


class KernelsTable(ProfileTableDirective):
    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        # Local and module kernels are children of the user's server, wherever the server runs.
        how = {"local": "where your server runs", "modules": "from modules, where your server runs",
               "slurm": "in a Slurm job", "container": "in a container, where your server runs"}  # fmt: skip
        roles: dict[str, list[str]] = {}
        for role, player in profile.kernel_roles.items():
            roles.setdefault(player.name, []).append(f"`role:{role}`")
        rows = []
        for kernel in profile.kernels:
            start = how[kernel.start]
            if kernel.start == "modules":
                start += ": " + ", ".join(f"`{m}`" for m in kernel.modules)
            if kernel.start == "slurm":
                start += f" on `{kernel.partition}`"
            if kernel.start == "container":
                start += ": " + next(f"`{c.reference}`" for c in profile.containers if c.name == kernel.image)
            rows.append(
                [
                    f"`{kernel.name}`",
                    kernel.display_name,
                    kernel.language,
                    start,
                    kernel.purpose,
                    ", ".join(roles.get(kernel.name, [])) or "none",
                ]
            )
        return ["Kernel", "Shown as", "Language", "Runs", "Use it for", "Examples' role"], rows


class FilesystemsTable(ProfileTableDirective):
    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        rows = [[fs.name, f"`{fs.path}`", fs.purpose, fs.quota] for fs in profile.filesystems]
        return ["Filesystem", "Path", "Purpose", "Quota"], rows


class ModulesTable(ProfileTableDirective):
    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        users: dict[str, list[str]] = {m: [] for m in profile.modules.relied_on}
        for kernel in profile.kernels:
            for module in kernel.modules:
                users.setdefault(module, []).append(f"`{kernel.name}` kernel")
        rows = [[f"`{m}`", ", ".join(u) or "the recipes"] for m, u in users.items()]
        return ["Module", "Used by"], rows


class ProjectsTable(ProfileTableDirective):
    """The projects jobs are charged to, with the limits Slurm holds each to."""

    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        rows = [
            [
                f"`{project.name}`",
                project.description,
                str(project.limits.max_cpus) if project.limits.max_cpus else "the partitions' limits",
                project.limits.max_walltime or "the partition's limit",
            ]
            for project in profile.projects
        ]
        return ["Project", "What it is for", "CPUs at once", "Longest job"], rows

    def markdown(self, profile: Profile) -> list[str]:
        if not profile.projects:
            return [
                "This site's profile lists no projects: each job is charged to its user's default account "
                "in Slurm's accounting, within the partitions' limits."
            ]
        return super().markdown(profile)


class NewKernelExample(GeneratedMyST):
    """A `kernels:` entry for a new module-based kernel, built from this site's own modules."""

    container_class = "handbook-profile-example"

    def markdown(self, profile: Profile) -> list[str]:
        base = profile.kernel_roles.get("modules")
        modules = list(base.modules) if base is not None else []
        extra = profile.extra_library_module
        if extra is not None:
            # The library goes before the Python module, which is loaded last in the site's kernels too.
            modules.insert(max(len(modules) - 1, 0), extra)
        library = extra.split("/")[0] if extra else "tools"
        name = f"{base.name if base else 'python3'}-{library}"
        return [
            "```yaml",
            f"  - name: {name}",
            f"    display_name: Python 3 ({library} tools)",
            "    language: python",
            f"    purpose: Python with the {library} module loaded.",
            "    start: modules",
            f"    modules: [{', '.join(modules)}]",
            "    packages: [ipykernel, numpy]",
            "```",
        ]


def setup_profile_tables(app: Sphinx) -> None:
    app.add_directive("site-new-kernel-example", NewKernelExample)
    app.add_directive("site-partitions", PartitionsTable)
    app.add_directive("site-spawn-form", SpawnFormTable)
    app.add_directive("site-environments", EnvironmentsTable)
    app.add_directive("site-kernels", KernelsTable)
    app.add_directive("site-filesystems", FilesystemsTable)
    app.add_directive("site-modules", ModulesTable)
    app.add_directive("site-projects", ProjectsTable)
