"""The start forecast's measured accuracy, from `nox -s bench`, where the planning pages explain it.

`{forecast-accuracy}` renders the table the bench printed, from `book/data/forecast-accuracy.json`:
how far Slurm's estimate and the recent median wait were from the real starts, and how many of the
jobs started within the range the spawn form showed. Nothing on the page is typed by hand.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from hpc_handbook.book.site_values import get_profile
from hpc_handbook.book.tables import build_table, code, paragraph, read_data
from hpc_handbook.data.forecast_accuracy import ForecastAccuracy, load_forecast_accuracy

BENCH_COMMAND = "nox -s bench"


def _seconds(value: float | None) -> str:
    if value is None:
        return "no estimate"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.0f} min"


def accuracy_rows(data: ForecastAccuracy) -> list[list[Any]]:
    count = len(data.probes)
    return [
        [
            paragraph("Slurm's estimate (", code("sbatch --test-only"), ")"),
            _seconds(data.scheduler_median_abs_error_s),
            "-",
            "-",
        ],
        ["Recent median wait of that size", _seconds(data.history_median_abs_error_s), "-", "-"],
        [
            "The form's range, from both",
            "-",
            f"{data.within_range} of {count} ({data.within_share:.0%})",
            _seconds(data.range_median_width_s),
        ],
    ]


class ForecastAccuracyDirective(SphinxDirective):
    """The forecast's error against real starts, as the bench measured it."""

    def run(self) -> list[nodes.Node]:
        data = read_data(self, "handbook_forecast_accuracy", load_forecast_accuracy, BENCH_COMMAND)
        if data is not None and data.site != get_profile(self.env.app).site.short_name:
            data = None  # another site's figures say nothing about this one
        if data is None or not data.probes:
            return [
                paragraph(
                    "The forecast has not been measured at this site yet; run ", code(BENCH_COMMAND), "."
                )
            ]
        header = [
            "Forecast",
            "Median absolute error",
            "Started within the range shown",
            "Median width of the range",
        ]
        title = (
            f"{len(data.probes)} jobs of the form's sizes on a busy {data.partition} partition "
            f"(beside {data.load_jobs} other jobs), measured {data.date}."
        )
        note = nodes.note()
        note += paragraph(
            "Measured by ", code(BENCH_COMMAND), " (", code(data.generated_by), "); do not edit."
        )
        return [
            build_table(header, accuracy_rows(data), classes=["handbook-forecast-accuracy"], title=title),
            note,
        ]


def setup_forecast_page(app: Sphinx) -> None:
    app.add_directive("forecast-accuracy", ForecastAccuracyDirective)
