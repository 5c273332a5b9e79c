"""The UI check's parts that need no browser: reading ARIA snapshots, comparing, the report."""

from __future__ import annotations

from hpc_handbook.data.ui_snapshot import UiSnapshot, UiView
from hpc_handbook.doc_ci.ui.check import compare, report
from hpc_handbook.doc_ci.ui.walk import launcher_tiles, names, views_config

LAUNCHER = """- region "main area content":
  - heading "Notebook" [level=2]
  - button "P Python 3 (login node)":
    - text: P
    - paragraph: Python 3 (login node)
  - button "R R":
    - img "R"
    - paragraph: R
  - heading "Other" [level=2]
  - button "Terminal":
    - paragraph: Terminal
"""
FORM = """- combobox "Where your server runs":
  - option "Login node (no job, starts at once)" [selected]
  - option "Partition \\"interactive\\" (up to 04:00:00)"
- textbox "Walltime"
- 'textbox "Extra #SBATCH lines"':
  - /placeholder: "#SBATCH --mail-type=END"
- button "Start"
"""


def snapshot(**views: dict[str, list[str]]) -> UiSnapshot:
    return UiSnapshot(views={name: UiView(elements=groups) for name, groups in views.items()})


def test_tiles_are_named_by_their_visible_label_in_the_kernel_sections_only() -> None:
    assert launcher_tiles(LAUNCHER, ["Notebook", "Console"]) == [
        "Notebook: Python 3 (login node)",
        "Notebook: R",
    ]


def test_names_reads_roles_and_unescapes_quotes() -> None:
    assert names(FORM, "option") == [
        "Login node (no job, starts at once)",
        'Partition "interactive" (up to 04:00:00)',
    ]
    assert names(FORM, "combobox", "textbox") == ["Where your server runs", "Walltime", "Extra #SBATCH lines"]


def test_a_removed_kernel_names_the_launcher_and_its_page() -> None:
    config = views_config()
    expected = snapshot(launcher={"kernel-tiles": ["Notebook: Bash", "Notebook: R"]})
    found = snapshot(launcher={"kernel-tiles": ["Notebook: Bash"]}).views
    [difference] = compare(expected, found, config)
    assert (difference.view, difference.page) == ("launcher", "book/start/log-in.md")
    assert difference.group == "kernel tiles"
    assert difference.message == 'expected "Notebook: R", not found'
    text = report([difference], site="RCC", docs_url="https://docs.example.org/", config=config)
    assert "JupyterLab's Launcher" in text and "https://docs.example.org/book/start/log-in.html" in text


def test_a_moved_menu_item_and_a_renamed_place_are_differences() -> None:
    config = views_config()
    expected = snapshot(
        **{"file-menu": {"hub-control-panel": ["File", "Hub Control Panel"]}},
        **{"spawn-form": {"places": ["Login node", "Partition interactive"]}},
    )
    found = snapshot(
        **{"file-menu": {"hub-control-panel": []}},
        **{"spawn-form": {"places": ["Login node", "Partition debug"]}},
    ).views
    messages = sorted(d.message for d in compare(expected, found, config))
    assert messages == [
        'expected "Partition interactive", not found',
        "expected File → Hub Control Panel, found it in no menu",
        'found "Partition debug", not expected',
    ]


def test_the_same_names_are_no_difference_and_the_report_says_so() -> None:
    config = views_config()
    recorded = snapshot(login={"fields": ["Username:", "Password:"]})
    assert compare(recorded, recorded.views, config) == []
    assert "Every view shows" in report([], site="RCC", docs_url="https://x.example.org", config=config)
