"""The network bench's reading of a JupyterLab notebook, run in Chromium on a page of JupyterLab's
own class names: what a failure reports, and which cell is the active one."""

from __future__ import annotations

from typing import Any

from hpc_handbook.reference_site.network_browser import ACTIVE_INDEX_JS, CELLS, notebook_state

NOTEBOOK = """
<div class="jp-Notebook jp-mod-{mode}Mode">
  <div class="jp-Notebook-ExecutionIndicator" data-status="idle"></div>
  <div class="jp-Cell jp-CodeCell"><div class="jp-InputPrompt">[1]:</div>
    <div class="cm-content">
      <div class="cm-line">survivor = 41</div><div class="cm-line">print('set')</div>
    </div>
    <div class="jp-OutputArea">set</div></div>
  <div class="jp-Cell jp-MarkdownCell"><div class="cm-content">a heading typed in command mode</div></div>
  <div class="jp-Cell jp-CodeCell jp-mod-active"><div class="jp-InputPrompt">[ ]:</div>
    <div class="cm-content"></div></div>
</div>
"""


def test_a_failure_reports_each_cells_prompt_first_line_and_output_the_kernel_and_the_mode(
    browser: Any,
) -> None:
    page = browser.new_page()
    try:
        page.set_content(NOTEBOOK.format(mode="edit"))
        assert notebook_state(page) == (
            "kernel idle, edit mode; cells: [1]: survivor = 41 -> set | "
            "(not code) [ ]: a heading typed in command mod... | [ ]: (empty)"
        )
        assert page.evaluate(ACTIVE_INDEX_JS, CELLS) == 2
        page.set_content(NOTEBOOK.format(mode="command"))
        assert ", command mode;" in notebook_state(page)
        page.set_content("<p>not a notebook</p>")
        assert notebook_state(page) == "kernel unknown, command mode; cells: none"
    finally:
        page.close()
