"""Container images of the reference site: built from Debian's packages, shared read-only by users.

`site up` builds each image of the profile's `containers` with mmdebstrap (Debian's own
packages, from the machine's apt sources: no registry is reached) and imports it into one
image store under the site's prefix. Every user's rootless podman reads that store as an
additional, read-only image store, so an image exists once however many users run it.

Two podman settings files next to the store say how: `storage.conf` names the shared store,
`containers.conf` the runtime. Kernels get both through their kernelspec's environment, and
login shells through the site's profile.d script.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from pathlib import Path

from hpc_handbook.profile import ContainerImage, Profile
from hpc_handbook.reference_site.paths import GENERATED_NOTE, SiteLayout, site_layout, template
from hpc_handbook.reference_site.system import Log, remove, run, write_if_changed

#: Debian packages that run rootless containers and build images (installed without recommends).
CONTAINER_APT_PACKAGES = ("podman", "runc", "uidmap", "catatonit", "mmdebstrap")
#: The image label that records what an image was built from, so an unchanged image is not rebuilt.
RECIPE_LABEL = "org.hpc-handbook.recipe"
#: Built root file systems, by image and recipe (see `root_filesystem`).
IMAGE_CACHE = Path("/var/cache/hpc-handbook-site/container-images")
#: Environment variables that point podman at the site's settings.
STORAGE_CONF_ENV = "CONTAINERS_STORAGE_CONF"
CONTAINERS_CONF_ENV = "CONTAINERS_CONF"
#: Where a user's podman keeps its containers (podman fills in $USER): on the node's local disk, not
#: in the home, which may be a network file system without overlay support and which the doc CI
#: must find as it left it.
ROOTLESS_STORAGE = "/var/tmp/containers-$USER/storage"
#: The label with which the container kernel launcher marks the Slurm job its container belongs to.
SLURM_JOB_LABEL = "org.hpc-handbook.slurm-job"


def mount_points(profile: Profile) -> list[str]:
    """Top folders of the profile's filesystems (/home, /project, ...): made in every image,
    so that a kernel's launcher can mount them at the same place as outside."""
    tops = []
    for filesystem in profile.filesystems:
        parts = Path(filesystem.path).parts
        if len(parts) > 1 and not parts[1].startswith("$") and f"/{parts[1]}" not in tops:
            tops.append(f"/{parts[1]}")
    return tops


def image_recipe(image: ContainerImage, profile: Profile) -> str:
    """A digest of everything the image is built from."""
    recipe = {
        "suite": image.debian_suite,
        "packages": sorted(image.packages),
        "mounts": mount_points(profile),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def podman_settings(layout: SiteLayout) -> dict[str, str]:
    """The environment that makes a user's podman use the site's image store and runtime."""
    return {
        STORAGE_CONF_ENV: str(layout.containers_dir / "storage.conf"),
        CONTAINERS_CONF_ENV: str(layout.containers_dir / "containers.conf"),
    }


def storage_conf(layout: SiteLayout) -> str:
    return (
        f"# {GENERATED_NOTE}\n"
        "# Users keep their own containers on local disk; images come read-only from the site's store.\n"
        "[storage]\n"
        'driver = "overlay"\n'
        "# root's own store, as podman's defaults.\n"
        'runroot = "/run/containers/storage"\n'
        'graphroot = "/var/lib/containers/storage"\n'
        f'rootless_storage_path = "{ROOTLESS_STORAGE}"\n'
        "[storage.options]\n"
        f'additionalimagestores = ["{layout.container_store}"]\n'
    )


def containers_conf() -> str:
    # runc rather than crun: crun refuses hosts whose cgroups are mounted in hybrid mode, runc takes
    # both; cgroupfs because users' kernels do not run under a systemd user session.
    return (
        f"# {GENERATED_NOTE}\n"
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )


def _store_podman(layout: SiteLayout) -> list[str]:
    """podman as root on the site's own store (not root's default store)."""
    return [
        "podman",
        "--root",
        str(layout.container_store),
        "--runroot",
        str(layout.containers_dir / "run"),
        "--storage-driver",
        "overlay",
        "--runtime",
        "runc",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
    ]


def _built_recipe(layout: SiteLayout, image: ContainerImage) -> str | None:
    result = run(
        [
            *_store_podman(layout),
            "image",
            "inspect",
            "--format",
            f'{{{{index .Labels "{RECIPE_LABEL}"}}}}',
            image.reference,
        ],
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def root_filesystem(image: ContainerImage, profile: Profile, log: Log) -> Path:
    """The image's root file system as a tarball, built with mmdebstrap unless the cache has this recipe.

    Like apt's own package cache, it outlives `site reset` and a change of profile: a site that
    comes back to the same recipe imports the tarball again instead of building it again.
    """
    tarball = IMAGE_CACHE / f"{image.name}-{image_recipe(image, profile)}.tar"
    if tarball.exists():
        return tarball
    packages = ", ".join(image.packages)
    log(f"building container image {image.reference} from Debian {image.debian_suite} ({packages})")
    hooks = [
        # podman creates /etc/mtab in a container's root; in a store the user cannot write, it must exist.
        'ln -sf ../proc/self/mounts "$1/etc/mtab"',
        *(f'mkdir -p "$1{top}"' for top in mount_points(profile)),
    ]
    IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
    for stale in IMAGE_CACHE.glob(f"{image.name}-*.tar"):
        stale.unlink()  # an earlier recipe of the same image
    partial = tarball.with_suffix(".partial")
    run(
        [
            "mmdebstrap",
            "--variant=apt",
            "--quiet",
            f"--include={','.join(image.packages)}",
            # Documentation and translations: not needed in a kernel's image.
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            *(f"--customize-hook={hook}" for hook in hooks),
            "--format=tar",
            image.debian_suite,
            str(partial),
        ],
        timeout=1200,
    )
    partial.rename(tarball)  # never a half-built tarball under the final name
    return tarball


def build_image(image: ContainerImage, profile: Profile, log: Log) -> None:
    """Import the image, built from Debian's packages, into the site's store, unless it is there."""
    layout = site_layout(profile)
    recipe = image_recipe(image, profile)
    if _built_recipe(layout, image) == recipe:
        return
    tarball = root_filesystem(image, profile, log)
    log(f"importing container image {image.reference} into {layout.container_store}")
    run(
        [
            *_store_podman(layout),
            "import",
            "--change",
            f"LABEL {RECIPE_LABEL}={recipe}",
            "--change",
            'CMD ["python3"]',
            "--message",
            image.description,
            str(tarball),
            image.reference,
        ],
        timeout=600,
    )
    # The tag moved to the new image: the old one's layers would stay in the store forever.
    run([*_store_podman(layout), "image", "prune", "--force"], check=False)


def _open_store_to_users(layout: SiteLayout) -> None:
    """Let every user read the store's index and layers, without changing the images' own files.

    podman makes its store root-only; the files inside each layer (`overlay/*/diff/...`) keep the
    modes the image gave them.
    """
    store = layout.container_store
    readable = [
        store,
        *(store / part for part in ("overlay", "overlay-images", "overlay-layers", "overlay/l")),
    ]
    readable += [*store.glob("overlay-images/*"), *store.glob("overlay-images/*/*")]
    readable += [*store.glob("overlay-layers/*"), *store.glob("overlay/*/link")]
    readable += [p for p in store.glob("overlay/*") if p.is_dir() and p.name != "l"]
    for path in readable:
        if path.exists() and not path.is_symlink():
            mode = path.stat().st_mode
            os.chmod(path, mode | (0o555 if path.is_dir() else 0o444))


def ensure_container_images(profile: Profile, log: Log, previous_images: list[str]) -> list[str]:
    """Build the profile's images that are missing or changed, and the settings users' podman reads."""
    layout = site_layout(profile)
    if not profile.containers:
        if layout.containers_dir.exists():
            log(f"removing {layout.containers_dir} (the profile declares no containers)")
            remove(layout.containers_dir)
        return []
    layout.containers_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.containers_dir, 0o755)
    write_if_changed(layout.containers_dir / "storage.conf", storage_conf(layout))
    write_if_changed(layout.containers_dir / "containers.conf", containers_conf())
    for image in profile.containers:
        build_image(image, profile, log)
    references = [image.reference for image in profile.containers]
    for stale in set(previous_images) - set(references):
        log(f"removing container image {stale} (no longer in the profile)")
        run([*_store_podman(layout), "rmi", "--force", stale], check=False)
    _open_store_to_users(layout)
    return references


def slurm_epilog(profile: Profile) -> str:
    """The Slurm epilog that removes the containers of a job's kernels when the job ends."""
    settings = podman_settings(site_layout(profile))
    return template(
        "slurm-epilog.sh",
        {
            "SITE_SHORT_NAME": profile.site.short_name,
            "PODMAN_SETTINGS": " ".join(f"{key}={shlex.quote(value)}" for key, value in settings.items()),
            "JOB_LABEL": SLURM_JOB_LABEL,
            "USER_STORAGE": ROOTLESS_STORAGE.replace("$USER", '"$user"'),
        },
    )


def podman_shell_exports(profile: Profile) -> str:
    """Lines for the login profile script: a user's `podman` in a terminal sees the site's images."""
    if not profile.containers:
        return ""
    settings = podman_settings(site_layout(profile))
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in settings.items())


def check_image(profile: Profile, image: ContainerImage) -> str | None:
    """None when the image is in the store as the profile describes it, else what is wrong."""
    layout = site_layout(profile)
    if not layout.container_store.exists():
        return f"no image store at {layout.container_store}"
    built = _built_recipe(layout, image)
    if built is None:
        return f"image {image.reference} is not in the site's store"
    if built != image_recipe(image, profile):
        return f"image {image.reference} was built from another recipe than the profile's"
    return None
