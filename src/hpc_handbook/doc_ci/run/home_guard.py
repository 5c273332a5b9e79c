"""Leave the doc-CI account's home as a run found it; this file runs inside the account's own server.

The doc CI through the hub uploads this file into the run's folder in the account's home and
runs it in a terminal of the account's login-node server, so everything here happens as the
account, with its rights, on the filesystem its servers see. It therefore uses the standard
library only and runs on any Python from 3.8 on (the server's own interpreter).

- `start` puts right what an earlier, killed run left (from the record that run kept), removes
  what the contents API's trash kept of older runs, measures the room the account has (free
  space and, where a quota tool answers, its quota), and records the home: every entry with
  its size and time, and a copy of each small file, in the run's folder.
- `remove PATH...` removes folders for good (the contents API may refuse or only trash them).
- `finish` removes what appeared in the home during the run, puts back from the copies what
  changed or went missing, and removes the run's folder; what it could not do, it says.

Each prints one line, `HANDBOOK-GUARD-RESULT` and its result as base64-encoded JSON.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Only in annotations: the servers' Python may be older than 3.9, where `dict[...]` is no value.
    Entry = dict[str, Any]

RESULT_MARKER = "HANDBOOK-GUARD-RESULT"
#: Inside the run's folder: the record of the home and the copies of its small files.
GUARD_DIR = "guard"
BASELINE_FILE = "baseline.json"
BACKUP_DIR = "backup"
#: Files up to this size are copied, smallest first, up to the total: enough for dotfiles and
#: databases such as IPython's history, never a copy of a large tree.
BACKUP_FILE_LIMIT = 1024 * 1024
BACKUP_TOTAL_LIMIT = 64 * 1024 * 1024
#: A home with more entries than this is not recorded; the run then removes only its own folder.
MAX_ENTRIES = 200_000
#: The run folders of the doc CI (`doc-ci-` and the run's eight hex digits).
RUN_FOLDER = re.compile(r"^doc-ci-[0-9a-f]{8}$")
#: A Jupyter server's or kernel's own file, which it removes when it ends: never brought back.
TRANSIENT = re.compile(r"(^|/)jupyter/runtime/(kernel-|jpserver-)[^/]*$")
#: What `finish` and `remove` list by name; the rest is counted.
LISTED = 20


def walk(home: str, skip: set[str]) -> tuple[list[tuple[str, os.stat_result]], bool]:
    """Every entry below `home` (relative paths, lstat), without following links or leaving its filesystem.

    Top-level names in `skip` are left out. False as the second value when the home had more
    than MAX_ENTRIES entries and the list stops there.
    """
    device = os.lstat(home).st_dev
    found: list[tuple[str, os.stat_result]] = []
    pending = [""]
    while pending:
        relative = pending.pop()
        try:
            with os.scandir(os.path.join(home, relative) if relative else home) as entries:
                children = list(entries)
        except OSError:
            continue
        for child in children:
            path = f"{relative}/{child.name}" if relative else child.name
            if not relative and child.name in skip:
                continue
            try:
                info = child.stat(follow_symlinks=False)
            except OSError:
                continue
            found.append((path, info))
            if len(found) > MAX_ENTRIES:
                return found, False
            if stat.S_ISDIR(info.st_mode) and info.st_dev == device:
                pending.append(path)
    return found, True


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "d"
    if stat.S_ISLNK(mode):
        return "l"
    return "f" if stat.S_ISREG(mode) else "o"


def describe(home: str, path: str, info: os.stat_result) -> Entry:
    entry: Entry = {"k": _kind(info.st_mode), "s": info.st_size, "m": info.st_mtime_ns}
    entry["p"] = stat.S_IMODE(info.st_mode)
    if entry["k"] == "l":
        entry["t"] = os.readlink(os.path.join(home, path))
    return entry


def appeared_since(entries: list[tuple[str, os.stat_result]], since_ns: int | None) -> set[str]:
    """The entries that the run's own servers made before the record was taken.

    A file or link is one when its inode changed after the run began. A folder is one when it
    changed after the run began and holds entries, all of them the run's; a folder that was
    there before with something new in it is not, nor an empty one (removing something from
    a folder changes it too, and an empty folder left is better than one taken away).
    """
    if since_ns is None:
        return set()
    children: dict[str, list[str]] = {}
    for path, _ in entries:
        children.setdefault(os.path.dirname(path), []).append(path)
    changed = {path for path, info in entries if info.st_ctime_ns >= since_ns}
    new: set[str] = set()
    # Deepest first, so a folder's contents are decided before the folder.
    for path, info in sorted(entries, key=lambda item: item[0].count("/"), reverse=True):
        if path not in changed:
            continue
        inside = children.get(path, [])
        if not stat.S_ISDIR(info.st_mode) or (inside and all(c in new for c in inside)):
            new.add(path)
    return new


def back_up(home: str, backup_root: str, record: dict[str, Entry]) -> int:
    """Copy the small files, smallest first, up to the total; mark each one copied. Returns the bytes."""
    copied = 0
    small = sorted(
        (e["s"], path) for path, e in record.items() if e["k"] == "f" and e["s"] <= BACKUP_FILE_LIMIT
    )
    for size, path in small:
        if copied + size > BACKUP_TOTAL_LIMIT:
            break
        target = os.path.join(backup_root, path)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(home, path), target)
        except OSError:
            continue  # unreadable: it is recorded without a copy, and said so if it changes
        record[path]["b"] = True
        copied += size
    return copied


def disk_usage(path: str) -> int:
    """Bytes a file or tree takes on disk, as `du` counts them."""
    try:
        info = os.lstat(path)
    except OSError:
        return 0
    total = info.st_blocks * 512
    if stat.S_ISDIR(info.st_mode):
        for _, child in walk(path, set())[0]:
            total += child.st_blocks * 512
    return total


def remove_tree(path: str, problems: list[str], label: str) -> int:
    """Remove a file, link or tree for good; each failure goes to `problems`. Returns the bytes freed."""
    size = disk_usage(path)

    def retry_writable(function: Any, failed: str, _: Any) -> None:
        # A read-only folder (some caches make them) refuses to give up its entries until it is writable.
        try:
            os.chmod(os.path.dirname(failed), 0o700)
            function(failed)
        except OSError as error:
            problems.append(f"cannot remove {label}/{os.path.relpath(failed, path)}: {error.strerror}")

    try:
        if os.path.isdir(path) and not os.path.islink(path):
            if sys.version_info >= (3, 12):
                shutil.rmtree(path, onexc=retry_writable)
            else:
                shutil.rmtree(path, onerror=retry_writable)
        elif os.path.lexists(path):
            os.unlink(path)
    except OSError as error:
        problems.append(f"cannot remove {label}: {error.strerror}")
    return size - disk_usage(path)


def room(home: str, user: str) -> dict[str, Any]:
    """Free bytes on the home's filesystem and, where a quota tool answers, the bytes left in the quota."""
    usage = os.statvfs(home)
    found: dict[str, Any] = {"free": usage.f_bavail * usage.f_frsize, "quota_left": None, "quota": ""}
    for command in (
        ["quota", "--no-wrap", "--show-mntpoint", "--hide-device", "-u", user],
        ["lfs", "quota", "-q", "-u", user, home],
    ):
        if shutil.which(command[0]) is None:
            continue
        try:
            output = subprocess.run(command, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        left = quota_left(output, home)
        if left is not None:
            found["quota_left"], found["quota"] = left, command[0]
            break
    return found


def quota_left(output: str, home: str) -> int | None:
    """Bytes left in the quota of the filesystem that holds `home`, from `quota` or `lfs quota` output.

    Each data row is the filesystem, the KiB used (a `*` marks one over its quota), the soft
    quota and the hard limit (0: none). None when no row covers the home or it has no limit.
    """
    best: tuple[int, int] | None = None
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].startswith("/"):
            continue
        mount = fields[0].rstrip("/") or "/"
        if not (home == mount or home.startswith(mount.rstrip("/") + "/")):
            continue
        try:
            used, soft, hard = (int(field.rstrip("*")) for field in fields[1:4])
        except ValueError:
            continue
        limits = [limit for limit in (soft, hard) if limit > 0]
        if limits and (best is None or len(mount) > best[0]):
            best = (len(mount), max(0, min(limits) - used) * 1024)
    return best[1] if best else None


def clean_trash(home: str, problems: list[str]) -> int:
    """Remove what the contents API's trash kept of earlier runs' folders. Returns the bytes freed."""
    trash = os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share"), "Trash")
    info_dir = os.path.join(trash, "info")
    freed = 0
    try:
        names = sorted(os.listdir(info_dir))
    except OSError:
        return 0
    pattern = re.compile("^Path=" + re.escape(home.rstrip("/")) + r"/doc-ci-[0-9a-f]{8}(/|$)", re.M)
    for name in names:
        if not name.endswith(".trashinfo"):
            continue
        try:
            with open(os.path.join(info_dir, name), encoding="utf-8", errors="replace") as stream:
                text = stream.read()
        except OSError:
            continue
        if pattern.search(text):
            item = name[: -len(".trashinfo")]
            freed += remove_tree(os.path.join(trash, "files", item), problems, f"trash/{item}")
            freed += remove_tree(os.path.join(info_dir, name), problems, f"trash/{name}")
    return freed


def _restore(home: str, backup_root: str, path: str, entry: Entry) -> None:
    """Put one recorded entry back as it was; OSError when it cannot be."""
    target = os.path.join(home, path)
    if entry["k"] == "d":
        os.makedirs(target, exist_ok=True)
    elif entry["k"] == "l":
        os.symlink(entry["t"], target)
        return
    else:
        # A new inode, so a program that still holds the old file (a database) writes into that one.
        temporary = f"{target}.handbook-restore"
        shutil.copy2(os.path.join(backup_root, path), temporary)
        os.replace(temporary, target)
    os.chmod(target, entry["p"])
    os.utime(target, ns=(entry["m"], entry["m"]))


def _changed(entry: Entry, info: os.stat_result) -> bool:
    if _kind(info.st_mode) != entry["k"]:
        return True
    return entry["k"] == "f" and (info.st_size != entry["s"] or info.st_mtime_ns != entry["m"])


def put_back(
    home: str, workroot: str, record: dict[str, Entry], result: dict[str, Any], *, keep: set[str]
) -> None:
    """Remove what is new since the record and put back what changed; fill `result`.

    Top-level names in `keep` (the run folders of this run) are neither removed nor recorded.
    """
    backup_root = os.path.join(home, workroot, GUARD_DIR, BACKUP_DIR)
    current = dict(walk(home, {workroot, *keep})[0])
    problems: list[str] = result["problems"]
    gone_with_parent = set()
    for path in sorted(current):
        if path in record and not _changed(record[path], current[path]):
            continue
        if os.path.dirname(path) in gone_with_parent:
            gone_with_parent.add(path)
            continue
        if path not in record or _kind(current[path].st_mode) != record[path]["k"]:
            result["removed"].append(path)
            result["removed_bytes"] += remove_tree(os.path.join(home, path), problems, path)
            gone_with_parent.add(path)
    # Shallowest first, so a folder is back before its contents; its times last, deepest first.
    for path in sorted(record, key=lambda p: p.count("/")):
        entry = record[path]
        info = current.get(path)
        if entry["k"] == "o" or (info is None and TRANSIENT.search(path)):
            continue  # sockets, pipes and the files of servers and kernels that have ended
        if info is not None and not _changed(entry, info) and path not in gone_with_parent:
            continue
        if entry["k"] == "f" and not entry.get("b"):
            problems.append(f"{path} changed during the run, and it was too large to keep a copy of")
            continue
        try:
            _restore(home, backup_root, path, entry)
            result["restored"].append(path)
        except OSError as error:
            problems.append(f"cannot put back {path}: {error.strerror}")
    for path in sorted((p for p, e in record.items() if e["k"] == "d"), key=lambda p: -p.count("/")):
        try:
            os.utime(os.path.join(home, path), ns=(record[path]["m"], record[path]["m"]))
        except OSError:
            pass  # a folder's time is not worth a problem of its own


def finish(home: str, workroot: str, keep: set[str] | None = None) -> dict[str, Any]:
    """Put the home back as the run's record says, then remove the run's folder (never those in `keep`)."""
    result: dict[str, Any] = {"removed": [], "removed_bytes": 0, "restored": [], "problems": []}
    folder = os.path.join(home, workroot)
    record_path = os.path.join(folder, GUARD_DIR, BASELINE_FILE)
    try:
        with open(record_path, encoding="utf-8") as stream:
            saved = json.load(stream)
    except (OSError, ValueError):
        saved = None
    if saved is not None and saved.get("complete"):
        put_back(home, workroot, saved["entries"], result, keep=keep or set())
    elif saved is not None:
        result["problems"].append(
            f"the home had more than {MAX_ENTRIES} entries, so only the run's folder was removed"
        )
    result["folder_bytes"] = remove_tree(folder, result["problems"], workroot)
    result["removed_count"] = len(result["removed"])
    result["removed"] = result["removed"][:LISTED]
    result["restored_count"] = len(result["restored"])
    result["restored"] = result["restored"][:LISTED]
    return result


def start(home: str, workroot: str, user: str, since_ns: int | None) -> dict[str, Any]:
    """Put earlier runs right, measure the room, and record the home for this run's `finish`."""
    result: dict[str, Any] = {"earlier": [], "problems": []}
    for name in sorted(os.listdir(home)):
        if RUN_FOLDER.match(name) and name != workroot and os.path.isdir(os.path.join(home, name)):
            earlier = finish(home, name, keep={workroot})
            result["earlier"].append({"folder": name, **earlier})
            result["problems"] += earlier["problems"]
    result["trash_bytes"] = clean_trash(home, result["problems"])
    entries, complete = walk(home, {workroot})
    new = appeared_since(entries, since_ns)
    record = {path: describe(home, path, info) for path, info in entries if path not in new}
    guard = os.path.join(home, workroot, GUARD_DIR)
    os.makedirs(guard, exist_ok=True)
    result["backup_bytes"] = back_up(home, os.path.join(guard, BACKUP_DIR), record) if complete else 0
    result["entries"], result["complete"] = len(record), complete
    with open(os.path.join(guard, BASELINE_FILE), "w", encoding="utf-8") as stream:
        json.dump({"complete": complete, "entries": record, "recorded": time.time()}, stream)
    result.update(room(home, user))
    return result


def remove(home: str, paths: list[str]) -> dict[str, Any]:
    """Remove each path (relative to the home) for good."""
    problems: list[str] = []
    freed = sum(remove_tree(os.path.join(home, path), problems, path) for path in paths)
    return {"removed_bytes": freed, "problems": problems}


def report(result: dict[str, Any]) -> str:
    """The one line the doc CI looks for in the terminal's output."""
    return f"{RESULT_MARKER} {base64.b64encode(json.dumps(result).encode()).decode()}"


def main(argv: list[str]) -> int:
    command, home, workroot = argv[0], argv[1], argv[2]
    if command == "start":
        since = int(argv[4]) if len(argv) > 4 and argv[4] != "-" else None
        result = start(home, workroot, argv[3], since)
    elif command == "finish":
        result = finish(home, workroot)
    elif command == "remove":
        result = remove(home, [f"{workroot}/{name}" for name in argv[3:]])
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    print(report(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
