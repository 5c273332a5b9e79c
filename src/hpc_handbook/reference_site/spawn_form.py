"""The hub's spawn form itself: its fields, with what each partition has idle, the user's projects
and when a server would start on each place.

Like `spawn_options`, this module uses the standard library alone: `site up` copies it next to
the hub's configuration, where the hub imports it, and the tests import it from the package.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for the types: the hub imports this module beside copies of these of other names.
    from hpc_handbook.reference_site.slurm_answers import Project
    from hpc_handbook.reference_site.spawn_options import Environment, Place


def _field(label: str, name: str, control: str, hint: str) -> str:
    return (
        f'<div class="form-group">\n<label for="{name}">{html.escape(label)}</label>\n{control}\n'
        f'<small class="form-text text-muted" id="{name}-hint">{html.escape(hint)}</small>\n</div>'
    )


def _options(choices: list[tuple[str, str]]) -> str:
    return "\n".join(
        f'<option value="{html.escape(key)}"{" selected" if i == 0 else ""}>{html.escape(label)}</option>'
        for i, (key, label) in enumerate(choices)
    )


def _environment_field(environments: list[Environment]) -> str:
    own = next((e for e in environments if e.script is not None), None)
    hint = "The first is the current JupyterLab; an earlier one keeps its own settings, for kernels and "
    hint += "extensions that need it."
    if own is not None:
        hint += f" Your own: the script ~/{own.script} starts your server from an environment you installed."
    return _field(
        "JupyterLab environment",
        "environment",
        '<select class="form-control" id="environment" name="environment" '
        'aria-describedby="environment-hint">\n'
        f"{_options([(e.key, e.label) for e in environments])}\n</select>",
        hint,
    )


def _project_field(projects: list[Project]) -> str:
    return _field(
        "Project",
        "project",
        '<select class="form-control" id="project" name="project" aria-describedby="project-hint">\n'
        f"{_options([(p.name, p.name) for p in projects])}\n</select>",
        "The project your server's job is charged to (partitions only); the first is your default. "
        + "; ".join(p.limits_text() for p in projects)
        + ".",
    )


#: Asks the hub's forecast handler again whenever the place or the size changes (see `_forecast_field`).
_FORECAST_SCRIPT = """<script>
(function () {
  const list = document.getElementById("forecast");
  const form = list.closest("form");
  let timer = null;
  function update() {
    const data = new FormData(form);
    const item = list.querySelector('li[data-place="' + data.get("place") + '"]');
    if (!item) { return; }
    const query = new URLSearchParams();
    for (const key of ["place", "project", "walltime", "nodes", "cpus"]) {
      if (data.has(key)) { query.set(key, data.get(key)); }
    }
    fetch(list.dataset.url + "?" + query, {credentials: "same-origin"})
      .then((answer) => answer.json())
      .then((forecast) => { item.textContent = forecast.text; });
  }
  form.addEventListener("change", () => { clearTimeout(timer); timer = setTimeout(update, 300); });
})();
</script>"""


def _forecast_field(
    places: list[Place], forecasts: dict[str, str], url: str | None, words: dict[str, str]
) -> str:
    """When a server would start on each place, at the form's default size; `url` updates the
    chosen place's line for the size the user enters. `words`: the heading and the hint."""
    items = "\n".join(
        f'<li data-place="{html.escape(p.key)}">{html.escape(forecasts[p.key])}</li>'
        for p in places
        if p.key in forecasts
    )
    data_url = f' data-url="{html.escape(url)}"' if url else ""
    return (
        '<div class="form-group">\n<p class="mb-1" id="forecast-heading">'
        f"<strong>{html.escape(words['heading'])}</strong></p>\n"
        '<ul id="forecast" aria-labelledby="forecast-heading" aria-describedby="forecast-hint" '
        f'aria-live="polite"{data_url}>\n{items}\n</ul>\n'
        f'<small class="form-text text-muted" id="forecast-hint">{html.escape(words["hint"])}</small>\n</div>'
        + (f"\n{_FORECAST_SCRIPT}" if url else "")
    )


def _idle_hint(places: list[Place], idle: dict[str, tuple[int, int]] | None) -> str:
    """What is free on each partition now (jupyterhub-moss shows the same on its form); '' when not asked."""
    if idle is None:
        return ""
    partitions = [p.partition for p in places if p.partition is not None]
    if not idle:
        return " Idle CPUs now: unknown, Slurm did not answer."
    counts = ", ".join(
        f"{name} {idle[name][0]} of {idle[name][1]}" if name in idle else f"{name} unknown"
        for name in partitions
    )
    return f" Idle CPUs now: {counts}."


def _place_field(places: list[Place], idle: dict[str, tuple[int, int]] | None) -> str:
    return _field(
        "Where your server runs",
        "place",
        f'<select class="form-control" id="place" name="place" aria-describedby="place-hint">\n'
        f"{_options([(p.key, p.label) for p in places])}\n</select>",
        "The login node starts at once; a partition queues your server as a Slurm job."
        + _idle_hint(places, idle),
    )


def _size_fields(places: list[Place], default_walltime: str) -> list[str]:
    """Walltime, nodes, CPUs and the experts' extra #SBATCH lines: what a partition's job asks for."""
    limits = "; ".join(
        f"{p.partition}: up to {p.max_walltime}, {p.max_nodes} node(s), {p.max_cpus} CPUs per node"
        for p in places
        if p.partition is not None
    )
    max_nodes = max(p.max_nodes for p in places)
    max_cpus = max(p.max_cpus for p in places)
    return [
        _field(
            "Walltime (HH:MM:SS)",
            "walltime",
            f'<input class="form-control" id="walltime" name="walltime" value="{default_walltime}" '
            'pattern="(\\d+-)?\\d{1,2}:\\d{2}:\\d{2}" aria-describedby="walltime-hint">',
            f"Limits per partition: {limits}.",
        ),
        _field(
            "Nodes",
            "nodes",
            f'<input class="form-control" id="nodes" name="nodes" type="number" min="1" '
            f'max="{max_nodes}" value="1" aria-describedby="nodes-hint">',
            "Nodes of the job that runs your server (partitions only).",
        ),
        _field(
            "CPUs",
            "cpus",
            f'<input class="form-control" id="cpus" name="cpus" type="number" min="1" '
            f'max="{max_cpus}" value="1" aria-describedby="cpus-hint">',
            "CPUs for your server and its kernels (partitions only).",
        ),
        _field(
            "Extra #SBATCH lines (experts)",
            "extra_sbatch",
            '<textarea class="form-control" id="extra_sbatch" name="extra_sbatch" rows="3" '
            'placeholder="#SBATCH --mail-type=END" aria-describedby="extra_sbatch-hint"></textarea>',
            "One #SBATCH line each, as in a batch script; the fields above set partition, project, "
            "time, nodes and CPUs.",
        ),
    ]


def form_html(
    places: list[Place],
    environments: list[Environment] | None = None,
    default_walltime: str = "01:00:00",
    idle: dict[str, tuple[int, int]] | None = None,
    projects: list[Project] | None = None,
    forecasts: dict[str, str] | None = None,
    forecast_url: str | None = None,
    forecast_words: dict[str, str] | None = None,
) -> str:
    """The spawn form: where the server runs, in which environment, walltime, nodes, CPUs and extra
    #SBATCH lines; with `idle` (see `idle_cpus`), what each partition has free now; with more than
    one of `projects` (see `user_projects`), which project the job is charged to; with `forecasts`
    ({place key: words}, see `forecast.forecast_text`) and `forecast_words` (heading, hint), when a
    server would start on each place."""
    words = forecast_words or {"heading": "", "hint": ""}
    return "\n".join(
        [
            _place_field(places, idle),
            *([_forecast_field(places, forecasts, forecast_url, words)] if forecasts else []),
            *([_environment_field(environments)] if environments and len(environments) > 1 else []),
            *([_project_field(projects)] if projects and len(projects) > 1 else []),
            *_size_fields(places, default_walltime),
        ]
    )
