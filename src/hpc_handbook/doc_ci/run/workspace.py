"""Where a run works, and what it leaves: room checked before it starts, folders removed for good
after it, and a failing example's folder kept for diagnosis, within bounds.

A run through the hub works in the doc-CI account's home (see `hub_home`); a direct run
in this machine's temporary folder. Either way a removal that fails is a problem the
report names, never something passed over in silence.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hpc_handbook.data.examples_report import KeptFolder
from hpc_handbook.hub.client import HubClient, HubError

#: What a failing example's kept folder may hold: small files only, none of its environments.
KEEP_FILE_LIMIT = 1024 * 1024
KEEP_EXAMPLE_LIMIT = 16 * 1024 * 1024
KEEP_TOTAL_LIMIT = 64 * 1024 * 1024
#: Folders never kept: virtual environments, Dask's spill folders, caches.
LEFT_OUT_FOLDERS = frozenset({"envs", "dask-scratch", "__pycache__", ".ipynb_checkpoints", "node_modules"})
GB = 1000**3


class NoRoomError(RuntimeError):
    """The account has less room than a run needs; the message says where, how much and what to do."""


def gigabytes(size: float) -> str:
    return f"{size / GB:.1f} GB" if size >= GB / 10 else f"{size / 1000**2:.0f} MB"


def room_problem(*, where: str, free: int, quota_left: int | None, needed: int) -> str | None:
    """Why the run cannot start for lack of room, or None when there is enough."""
    if free < needed:
        return f"{where} has {gigabytes(free)} free; a run needs about {gigabytes(needed)}"
    if quota_left is not None and quota_left < needed:
        return f"{where} has {gigabytes(quota_left)} left in its quota; a run needs about {gigabytes(needed)}"
    return None


def check_local_room(folder: Path, needed: int) -> None:
    """NoRoomError when the filesystem of `folder` (a direct run's temporary folder) lacks the room."""
    problem = room_problem(
        where=f"the temporary folder {folder}",
        free=shutil.disk_usage(folder).free,
        quota_left=None,
        needed=needed,
    )
    if problem:
        raise NoRoomError(f"{problem} (doc_ci.space_needed_gb in the site profile): free some space")


def tree_bytes(path: Path) -> int:
    """Bytes a folder takes on disk, as `du` counts them."""
    total = 0
    for directory, _, names in os.walk(path):
        for name in [".", *names]:
            try:
                total += os.lstat(os.path.join(directory, name)).st_blocks * 512
            except OSError:
                continue  # gone while counting
    return total


def remove_for_good(path: Path) -> list[str]:
    """Remove a folder and everything in it; each entry that stays is a problem, in words."""
    problems: list[str] = []

    def retry_writable(function: Any, failed: str, _: Any) -> None:
        # A read-only folder (Go's and some pip caches make them) gives up its entries once writable.
        try:
            os.chmod(os.path.dirname(failed), stat.S_IRWXU)
            function(failed)
        except OSError as error:
            problems.append(f"cannot remove {failed}: {error.strerror}")

    if path.exists() or path.is_symlink():
        shutil.rmtree(path, onerror=retry_writable)
    return problems


@dataclass
class Keeper:
    """Keeps failing examples' folders under `root` (the report folder's `failed/`), within the bounds."""

    root: Path
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> list[str]:
        """Only the last run's folders are kept: the earlier ones go."""
        return remove_for_good(self.root)

    def _take(self, size: int, taken: int) -> bool:
        with self._lock:
            if (
                size > KEEP_FILE_LIMIT
                or taken + size > KEEP_EXAMPLE_LIMIT
                or self.used + size > KEEP_TOTAL_LIMIT
            ):
                return False
            self.used += size
            return True

    def _target(self, example: str, kernel: str) -> Path:
        return self.root / f"{example}-{kernel}"

    def keep_local(self, folder: Path, *, example: str, kernel: str) -> KeptFolder | None:
        """Copy what is worth keeping of a direct run's folder."""
        target = self._target(example, kernel)
        kept = KeptFolder(path=f"{self.root.name}/{target.name}")
        for directory, subfolders, files in os.walk(folder):
            if "pyvenv.cfg" in files:  # a virtual environment, whatever its name
                kept.left_out += 1
                subfolders[:] = []
                continue
            kept.left_out += sum(1 for s in subfolders if s in LEFT_OUT_FOLDERS)
            subfolders[:] = [s for s in subfolders if s not in LEFT_OUT_FOLDERS]
            for name in files:
                source = Path(directory, name)
                try:
                    size = source.lstat().st_size
                    if not source.is_file() or not self._take(size, kept.bytes):
                        kept.left_out += 1
                        continue
                    copy = target / source.relative_to(folder)
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, copy)
                except OSError:
                    kept.left_out += 1
                    continue
                kept.files += 1
                kept.bytes += size
        return kept if kept.files else None

    def keep_from_server(
        self, client: HubClient, user: str, server: str, folder: str, *, example: str, kernel: str
    ) -> KeptFolder | None:
        """Copy what is worth keeping of a folder in the account's home, through the contents API."""
        target = self._target(example, kernel)
        kept = KeptFolder(path=f"{self.root.name}/{target.name}")
        for path, size in _server_files(client, user, server, folder, kept):
            if not self._take(size, kept.bytes):
                kept.left_out += 1
                continue
            try:
                model = client.server_api(
                    user, server, f"/contents/{quote(path)}?content=1&format=base64&type=file", "GET"
                )
            except HubError:
                kept.left_out += 1
                continue
            copy = target / Path(path).relative_to(folder)
            try:
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(base64.b64decode(model.get("content") or ""))
            except (OSError, ValueError):
                kept.left_out += 1
                continue
            kept.files += 1
            kept.bytes += size
        return kept if kept.files else None


def _server_files(
    client: HubClient, user: str, server: str, folder: str, kept: KeptFolder
) -> Iterator[tuple[str, int]]:
    """Each file below `folder` as the contents API lists it, with its size; left-out folders are counted."""
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            listing = client.server_api(user, server, f"/contents/{quote(current)}?content=1", "GET")
        except HubError:
            continue
        entries = listing.get("content") or []
        if any(entry["name"] == "pyvenv.cfg" for entry in entries):
            kept.left_out += 1  # a virtual environment, whatever its name
            continue
        for entry in entries:
            if entry["type"] != "directory":
                yield str(entry["path"]), int(entry.get("size") or 0)
            elif entry["name"] in LEFT_OUT_FOLDERS:
                kept.left_out += 1
            else:
                pending.append(str(entry["path"]))
