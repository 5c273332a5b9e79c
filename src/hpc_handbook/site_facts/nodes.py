"""How a partition's nodes read in one line: `rcc-cpu[01-04]: 4 up`.

The status page and the drift check's messages both name nodes this way, as Slurm's
hostlists do, so a partition of a hundred nodes still takes one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from hpc_handbook.data.snapshot import NodeEntry

#: The order states are listed in: what works first.
_STATE_ORDER = ("up", "drained", "down")


def _ranges(numbers: list[str]) -> str:
    """`["01", "02", "04"]` as `01-02,04`; numbers of one width, in order."""
    values = sorted(set(numbers), key=int)
    spans: list[list[str]] = []
    for value in values:
        if spans and int(value) == int(spans[-1][-1]) + 1:
            spans[-1].append(value)
        else:
            spans.append([value])
    return ",".join(span[0] if len(span) == 1 else f"{span[0]}-{span[-1]}" for span in spans)


def compress_hostlist(names: Iterable[str]) -> str:
    """Node names as a Slurm hostlist: rcc-cpu01, rcc-cpu02 and rcc-cpu04 are `rcc-cpu[01-02,04]`."""
    groups: dict[tuple[str, int], list[str]] = {}
    plain: list[str] = []
    for name in sorted(set(names)):
        match = re.fullmatch(r"(.*?)(\d+)", name)
        if match is None:
            plain.append(name)
        else:
            groups.setdefault((match.group(1), len(match.group(2))), []).append(match.group(2))
    parts = [
        f"{prefix}{numbers[0]}" if len(numbers) == 1 else f"{prefix}[{_ranges(numbers)}]"
        for (prefix, _), numbers in groups.items()
    ]
    return ",".join(sorted([*parts, *plain]))


def nodes_text(nodes: Mapping[str, NodeEntry]) -> str:
    """The nodes by state, with the reason of those not up.

    For example `rcc-cpu[01-03]: 3 up; rcc-cpu04: 1 drained (disk)`.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for name, node in nodes.items():
        groups.setdefault((node.state, node.reason if node.state != "up" else ""), []).append(name)
    parts = []
    for (state, reason), names in sorted(
        groups.items(), key=lambda g: (_STATE_ORDER.index(g[0][0]), g[0][1])
    ):
        because = f" ({reason})" if reason else ""
        parts.append(f"{compress_hostlist(names)}: {len(names)} {state}{because}")
    return "; ".join(parts)
