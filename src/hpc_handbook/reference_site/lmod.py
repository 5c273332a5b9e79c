"""Lmod of the reference site: the module tree from the profile, and running `module` from Python."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.containers import podman_shell_exports
from hpc_handbook.reference_site.paths import (
    GENERATED_NOTE,
    LMOD_INIT_BASH,
    PROFILE_D_SCRIPT,
    ReferenceSiteError,
    site_layout,
    template,
)
from hpc_handbook.reference_site.system import (
    Log,
    dedupe,
    ensure_venv,
    remove,
    symlink_if_changed,
    write_if_changed,
)

#: What the module behind a python-kind module always has, besides the packages its kernels name.
PYTHON_STACK_PACKAGES = ("ipykernel", "numpy")


def module_path(profile: Profile) -> str:
    """MODULEPATH for the site's module tree(s)."""
    return os.pathsep.join(profile.modules.paths)


def lmod_shell_setup(profile: Profile) -> str:
    """Bash lines that make `module` work in a non-login shell (e.g. from a notebook's `!`)."""
    return f"export MODULEPATH={shlex.quote(module_path(profile))}; source {shlex.quote(str(LMOD_INIT_BASH))}"


def module_command(
    args: Sequence[str], profile: Profile, *, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `module ARGS` in bash with the site's MODULEPATH; Lmod writes listings to stderr."""
    script = f"{lmod_shell_setup(profile)}; module {shlex.join(args)}"
    return subprocess.run(
        ["bash", "-c", script],
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def module_environment(
    modules: Sequence[str], profile: Profile, *, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment after `module load MODULES` (in that order); raises if a load fails."""
    load = "module --quiet purge" + (f"; module load {shlex.join(modules)} || exit 3" if modules else "")
    script = f"{lmod_shell_setup(profile)}; {load}; env -0"
    result = subprocess.run(
        ["bash", "-c", script],
        env=dict(os.environ if env is None else env),
        capture_output=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise ReferenceSiteError(f"module load {' '.join(modules)} failed: {message}")
    pairs = (item.split("=", 1) for item in result.stdout.decode(errors="replace").split("\0") if "=" in item)
    # Bash exports its functions as BASH_FUNC_* variables; a program's environment has none of them.
    return {key: value for key, value in pairs if not key.startswith("BASH_FUNC_")}


ModuleKind = Literal["compiler", "python", "library", "generic"]
#: Compilers the site can provide for real: it wraps the system's.
COMPILER_FAMILIES = frozenset({"gcc"})
LIBRARY_FAMILIES = frozenset(
    {"hdf5", "netcdf", "netcdf-c", "netcdf-fortran", "fftw", "openblas", "boost", "gsl"}
)


@dataclass(frozen=True)
class SiteModule:
    """One modulefile of the site's tree."""

    family: str
    version: str | None
    kind: ModuleKind
    default: bool = False
    #: An extra version that exists so that the family's default is a real choice.
    stand_in: bool = False
    prereq: str | None = None
    packages: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.family}/{self.version}" if self.version else self.family

    @property
    def env_prefix(self) -> str:
        """GCC for gcc, PYTHON_STACK for python-stack."""
        return re.sub(r"[^A-Z0-9]+", "_", self.family.upper()).strip("_")

    @property
    def file(self) -> str:
        """Path of the modulefile inside the tree; the .lua suffix tells Lmod it is Lua."""
        return f"{self.name}.lua"


def module_kind(family: str) -> ModuleKind:
    lowered = family.lower()
    if lowered in COMPILER_FAMILIES:
        return "compiler"
    if "python" in lowered:
        return "python"
    if lowered in LIBRARY_FAMILIES:
        return "library"
    return "generic"


def _split_module(name: str) -> tuple[str, str | None]:
    family, _, version = name.partition("/")
    return family, version or None


def next_version(version: str) -> str:
    """12.2 -> 13.2, 2024.1 -> 2025.1: a newer version for a stand-in module."""
    match = re.match(r"(\d+)(.*)", version)
    if match is None:
        return f"{version}.1"
    return f"{int(match.group(1)) + 1}{match.group(2)}"


def plan_modules(profile: Profile) -> list[SiteModule]:
    """The modules of the site's tree: every module the profile names, plus one stand-in version.

    The first version the profile names in a family is its default. The compiler
    family also gets a newer stand-in version, so `module load gcc` picks the
    marked default rather than the highest version, as on real sites.
    """
    names = dedupe([*profile.modules.relied_on, *(m for k in profile.kernels for m in k.modules)])
    compiler = next((f for f, _ in map(_split_module, names) if module_kind(f) == "compiler"), None)
    modules: list[SiteModule] = []
    seen_families: set[str] = set()
    for name in names:
        family, version = _split_module(name)
        kind = module_kind(family)
        is_first_of_family = family not in seen_families
        seen_families.add(family)
        packages: tuple[str, ...] = ()
        if kind == "python":
            kernel_packages = [p for k in profile.kernels if name in k.modules for p in k.packages]
            packages = tuple(dedupe([*PYTHON_STACK_PACKAGES, *kernel_packages]))
        modules.append(
            SiteModule(
                family=family,
                version=version,
                kind=kind,
                default=is_first_of_family and version is not None,
                prereq=compiler if kind == "python" else None,
                packages=packages,
            )
        )
    if compiler is not None:
        versions = [m.version for m in modules if m.family == compiler and m.version]
        if versions:
            stand_in = next_version(versions[0])
            if stand_in not in versions:
                modules.append(SiteModule(family=compiler, version=stand_in, kind="compiler", stand_in=True))
    return modules


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal for these values


def modulefile(module: SiteModule, profile: Profile) -> str:
    """The Lua modulefile text for one module."""
    root = site_layout(profile).software_root(module.family, module.version)
    env = module.env_prefix
    version = module.version or "default"
    if module.kind == "compiler":
        description = f"GNU compilers {version}: gcc, g++ (CC and CXX point at them)."
        if module.stand_in:
            description += (
                " A stand-in on the reference site: it runs the system's compiler and exists"
                " so that the family has a non-default version."
            )
        else:
            description += " On the reference site, the system's compiler."
    elif module.kind == "python":
        description = f"A Python environment with {', '.join(module.packages)}."
    elif module.kind == "library":
        description = (
            f"The {module.family} library {version} (a reference-site stand-in: an empty install tree)."
        )
    else:
        description = (
            f"{module.family} {version} (a reference-site stand-in with a {module.family}-info command)."
        )
    lines = [
        f"-- {module.name} of the {profile.site.name} reference site.",
        f"-- {GENERATED_NOTE}",
        f"help([[{description}]])",
        f"whatis({_lua('Name: ' + module.family)})",
        f"whatis({_lua('Version: ' + version)})",
        f"whatis({_lua('Category: ' + module.kind)})",
        f"whatis({_lua('Description: ' + description)})",
    ]
    if module.kind == "compiler":
        # Two compilers loaded at once would fight over CC; family() makes Lmod swap them.
        lines.append('family("compiler")')
    if module.prereq:
        # prereq, not depends_on: loading the stack before its compiler is an error, so load order matters.
        lines.append(f"prereq({_lua(module.prereq)})")
    lines += [
        f"local root = {_lua(str(root))}",
        f'setenv("{env}_ROOT", root)',
        f'setenv("{env}_VERSION", {_lua(version)})',
        'prepend_path("PATH", pathJoin(root, "bin"))',
    ]
    if module.kind == "compiler":
        lines += ['setenv("CC", pathJoin(root, "bin", "gcc"))', 'setenv("CXX", pathJoin(root, "bin", "g++"))']
    if module.kind == "library":
        lines += [
            f'setenv("{env}_DIR", root)',
            'prepend_path("CPATH", pathJoin(root, "include"))',
            'prepend_path("LIBRARY_PATH", pathJoin(root, "lib"))',
            'prepend_path("LD_LIBRARY_PATH", pathJoin(root, "lib"))',
        ]
    return "\n".join(lines) + "\n"


def module_tree(profile: Profile) -> dict[str, str]:
    """Every file of the module tree, as {relative path: text}; `default` entries are symlink targets."""
    tree = {}
    for module in plan_modules(profile):
        tree[module.file] = modulefile(module, profile)
        if module.default:
            # The first way Lmod looks for a marked default: a `default` symlink in the family's dir.
            tree[f"{module.family}/default"] = Path(module.file).name
    return tree


def is_symlink_entry(relative_path: str) -> bool:
    return Path(relative_path).name == "default"


def profile_d_script(profile: Profile) -> str:
    return template(
        "profile.d-modules.sh",
        {
            "SITE_SHORT_NAME": profile.site.short_name,
            "MODULE_PATHS": " ".join(shlex.quote(p) for p in profile.modules.paths),
            "PODMAN_SETTINGS": podman_shell_exports(profile),
        },
    )


def install_module_software(module: SiteModule, profile: Profile, python: Path, log: Log) -> None:
    """Make the directories a modulefile points at real, with something to run in bin/."""
    root = site_layout(profile).software_root(module.family, module.version)
    if module.kind == "python":
        ensure_venv(root, module.packages, python, log)
        return
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    if module.kind == "compiler":
        for tool, system_tool in (
            ("gcc", "gcc"),
            ("g++", "g++"),
            ("cc", "gcc"),
            ("c++", "g++"),
            ("cpp", "cpp"),
        ):
            found = shutil.which(system_tool, path="/usr/bin:/bin")
            if found:
                symlink_if_changed(bin_dir / tool, found)
        return
    if module.kind == "library":
        (root / "include").mkdir(exist_ok=True)
        (root / "lib").mkdir(exist_ok=True)
    info = (
        "#!/bin/sh\n"
        f"# {GENERATED_NOTE}\n"
        f"echo {shlex.quote(f'{module.name}: a stand-in of the {profile.site.short_name} reference site')}\n"
    )
    write_if_changed(bin_dir / f"{module.family}-info", info, mode=0o755)


def install_modules(profile: Profile, python: Path, log: Log, previous: Mapping[str, Any]) -> list[str]:
    """Software trees, the module tree and the login-shell MODULEPATH; returns the tree's files."""
    layout = site_layout(profile)
    for module in plan_modules(profile):
        install_module_software(module, profile, python, log)
    tree = module_tree(profile)
    for relative, content in tree.items():
        if is_symlink_entry(relative):
            symlink_if_changed(layout.modulefiles / relative, content)
        else:
            write_if_changed(layout.modulefiles / relative, content)
    files = sorted(str(layout.modulefiles / relative) for relative in tree)
    for stale in set(previous.get("module_files", [])) - set(files):
        remove(Path(stale))
    write_if_changed(PROFILE_D_SCRIPT, profile_d_script(profile))
    return files
