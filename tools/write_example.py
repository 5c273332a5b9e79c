"""Write an example notebook from a compact Python description (dev helper, not shipped).

Outputs are never written here: `nox -s refresh -- NAME` records them on the reference site.
Usage: python tools/write_example.py SPEC.py  (SPEC defines NAME, METADATA, KERNEL, CELLS)
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import nbformat

#: Placeholders until `nox -s refresh` writes the kernel of the site that recorded the outputs.
KERNELSPECS = {
    "python": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "bash": {"name": "bash", "display_name": "Bash", "language": "bash"},
    "R": {"name": "ir", "display_name": "R", "language": "R"},
}


def build(spec: dict) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    kernelspec = dict(KERNELSPECS[spec["LANGUAGE"]])
    kernelspec["name"] = spec.get("KERNEL", kernelspec["name"])
    # language_info picks the highlighter; without it `!pip` lines break the strict build.
    language_info = {
        "python": {"name": "python", "pygments_lexer": "ipython3"},
        "bash": {"name": "bash"},
        "R": {"name": "R"},
    }
    notebook.metadata = {
        "kernelspec": kernelspec,
        "language_info": language_info[spec["LANGUAGE"]],
        "handbook": spec["METADATA"],
    }
    for kind, source, *tags in spec["CELLS"]:
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(source.strip("\n"))
        else:
            cell = nbformat.v4.new_code_cell(source.strip("\n"))
        if tags:
            cell.metadata["tags"] = list(tags[0])
        notebook.cells.append(cell)
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{spec['NAME']}-{index}"[-64:]
    return notebook


if __name__ == "__main__":
    for spec_path in sys.argv[1:]:
        spec = runpy.run_path(spec_path)
        target = Path("examples") / f"{spec['NAME']}.ipynb"
        nbformat.write(build(spec), target)
        print(f"wrote {target}")
