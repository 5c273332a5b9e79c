"""Kernels of the reference site: kernelspecs, launchers and venvs from the profile."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# Kept importable from here: the site's tests know it as the reference site's.
from hpc_handbook.profile import Kernel, Profile
from hpc_handbook.reference_site.containers import mount_points, podman_settings
from hpc_handbook.reference_site.lmod import module_path, plan_modules
from hpc_handbook.reference_site.paths import (
    GENERATED_NOTE,
    KERNELSPEC_DIR,
    LMOD_INIT_BASH,
    R_EXECUTABLE,
    SITE_JUPYTER_DIR,
    ReferenceSiteError,
    SiteLayout,
    reference_site_dir,
    site_layout,
    template,
)
from hpc_handbook.reference_site.system import Log, dedupe, ensure_venv, remove, write_if_changed


def site_jupyter_path() -> str:
    """The Jupyter data dir holding the site's kernelspecs; put it first in JUPYTER_PATH.

    A venv's own `python3` kernelspec would otherwise shadow the site's.
    """
    return str(SITE_JUPYTER_DIR)


def site_jupyter_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `env` (default: os.environ) whose JUPYTER_PATH starts with the site's dir."""
    result = dict(os.environ if env is None else env)
    existing = [p for p in result.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != site_jupyter_path()]
    result["JUPYTER_PATH"] = os.pathsep.join([site_jupyter_path(), *existing])
    return result


def modules_kernel_launcher(kernel: Kernel, profile: Profile) -> str:
    """The bash launcher of a `start: modules` kernel: load the modules in order, exec the kernel."""
    if kernel.language.lower() != "python":
        raise ReferenceSiteError(
            f"kernel {kernel.name!r}: a 'start: modules' kernel must be a Python kernel, "
            f"got {kernel.language!r}"
        )
    return template(
        "modules-kernel-launcher.sh",
        {
            "KERNEL_NAME": kernel.name,
            "MODULEPATH": shlex.quote(module_path(profile)),
            "LMOD_INIT_BASH": shlex.quote(str(LMOD_INIT_BASH)),
            "MODULES": shlex.join(kernel.modules),
        },
    )


#: The module both kernel launchers share, installed beside them.
LAUNCHER_LIFECYCLE = "kernel_launcher_lifecycle"


def launcher_script(name: str, python: Path) -> str:
    """A kernel launcher of reference_site/ (Slurm, container), with a shebang for the Python that runs it."""
    source = (reference_site_dir() / f"{name}.py").read_text(encoding="utf-8")
    return f"#!{python}\n# {GENERATED_NOTE}\n{source}"


def kernel_venv_packages(kernel: Kernel) -> list[str] | None:
    """The pip packages of the kernel's own venv, or None for a kernel that has none."""
    language = kernel.language.lower()
    if kernel.start in ("modules", "container") or language == "r":
        return None
    if language == "python":
        return dedupe(["ipykernel", *kernel.packages])
    if language == "bash":
        return dedupe(["bash_kernel", *kernel.packages])
    raise ReferenceSiteError(
        f"kernel {kernel.name!r}: the reference site has no {kernel.language!r} kernel (python, bash, R)"
    )


def local_kernel_argv(kernel: Kernel, layout: SiteLayout) -> list[str]:
    """How the kernel process itself starts, on whatever machine it runs."""
    language = kernel.language.lower()
    python = str(layout.kernel_dir(kernel.name) / "bin" / "python")
    if language == "python":
        return [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if language == "bash":
        return [python, "-m", "bash_kernel", "-f", "{connection_file}"]
    if language == "r":
        # IRkernel's own kernelspec, with R's full path so a module cannot swap the interpreter.
        return [R_EXECUTABLE, "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"]
    raise ReferenceSiteError(
        f"kernel {kernel.name!r}: the reference site has no {kernel.language!r} kernel (python, bash, R)"
    )


def kernel_walltime(kernel: Kernel, profile: Profile) -> str:
    assert kernel.partition is not None
    return kernel.walltime or profile.partition(kernel.partition).limits.max_walltime


def kernelspec(kernel: Kernel, profile: Profile) -> dict[str, Any]:
    """The kernel.json of one profile kernel; `metadata.handbook` tells tools how it starts."""
    layout = site_layout(profile)
    how: dict[str, Any] = {"start": kernel.start, "site": profile.site.short_name}
    spec: dict[str, Any] = {"display_name": kernel.display_name, "language": kernel.language}
    if kernel.start == "local":
        spec["argv"] = local_kernel_argv(kernel, layout)
    elif kernel.start == "modules":
        modules_kernel_launcher(kernel, profile)  # rejects what the launcher cannot start
        spec["argv"] = [str(layout.kernel_dir(kernel.name) / "launch"), "{connection_file}"]
        how["modules"] = list(kernel.modules)
    elif kernel.start == "container":
        image = next(i for i in profile.containers if i.name == kernel.image)
        spec["argv"] = [
            str(layout.container_launcher),
            "--kernel-name",
            kernel.name,
            "--image",
            image.reference,
            *(f"--mount={top}" for top in mount_points(profile)),
            "--",
            "python3",
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ]
        spec["env"] = podman_settings(layout)
        # A SIGINT to the launcher means "remove the container"; interrupts travel as messages instead.
        spec["interrupt_mode"] = "message"
        how["image"] = image.reference
    else:
        assert kernel.partition is not None
        walltime = kernel_walltime(kernel, profile)
        spec["argv"] = [
            str(layout.slurm_launcher),
            "--kernel-name",
            kernel.name,
            "--partition",
            kernel.partition,
            "--time",
            walltime,
            *(["--gpus", str(kernel.gpus)] if kernel.gpus else []),
            "--",
            *local_kernel_argv(kernel, layout),
        ]
        # A SIGINT to the launcher means "stop the job"; interrupts travel as messages instead.
        spec["interrupt_mode"] = "message"
        how.update(partition=kernel.partition, walltime=walltime)
        if kernel.gpus:
            how["gpus"] = kernel.gpus
    if kernel.language.lower() == "bash":
        spec["env"] = {"PS1": "$"}  # as bash_kernel's own installer sets it
    spec["metadata"] = {"handbook": how}
    return spec


def site_venvs(profile: Profile) -> dict[Path, list[str]]:
    """Every venv the site needs, with its pip packages: tools, python modules, kernels."""
    layout = site_layout(profile)
    venvs: dict[Path, list[str]] = {layout.tools_venv: []}
    for module in plan_modules(profile):
        if module.kind == "python":
            venvs[layout.software_root(module.family, module.version)] = list(module.packages)
    for kernel in profile.kernels:
        packages = kernel_venv_packages(kernel)
        if packages is not None:
            venvs[layout.kernel_dir(kernel.name)] = packages
    return venvs


def ensure_venvs(profile: Profile, python: Path, log: Log) -> None:
    """Build the missing or outdated venvs side by side: pip waits on downloads and unpacking."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [
            pool.submit(ensure_venv, path, packages, python, log)
            for path, packages in site_venvs(profile).items()
        ]
        for future in futures:
            future.result()


def install_kernels(profile: Profile, python: Path, log: Log, previous: Mapping[str, Any]) -> list[str]:
    """Kernel venvs, launchers and kernelspecs; returns the installed kernel names."""
    layout = site_layout(profile)
    tools_python = layout.tools_venv / "bin" / "python"
    for path, launcher in (
        (layout.slurm_launcher, "slurm_kernel_launcher"),
        (layout.container_launcher, "container_kernel_launcher"),
    ):
        write_if_changed(path, launcher_script(launcher, tools_python), mode=0o755)
    # What both launchers import, from the folder they are installed in.
    lifecycle = (reference_site_dir() / f"{LAUNCHER_LIFECYCLE}.py").read_text(encoding="utf-8")
    write_if_changed(layout.libexec_dir / f"{LAUNCHER_LIFECYCLE}.py", f"# {GENERATED_NOTE}\n{lifecycle}")
    for kernel in profile.kernels:
        spec_dir = KERNELSPEC_DIR / kernel.name
        if kernel.start == "modules":
            write_if_changed(
                layout.kernel_dir(kernel.name) / "launch",
                modules_kernel_launcher(kernel, profile),
                mode=0o755,
            )
        write_if_changed(spec_dir / "kernel.json", json.dumps(kernelspec(kernel, profile), indent=1) + "\n")
        if kernel.language.lower() == "r":
            logos = Path("/usr/lib/R/site-library/IRkernel/kernelspec")
            for logo in logos.glob("logo-*"):
                if not (spec_dir / logo.name).exists():
                    shutil.copyfile(logo, spec_dir / logo.name)
    names = [k.name for k in profile.kernels]
    for stale in set(previous.get("kernels", [])) - set(names):
        log(f"removing kernelspec {stale} (no longer in the profile)")
        remove(KERNELSPEC_DIR / stale)
    return names
