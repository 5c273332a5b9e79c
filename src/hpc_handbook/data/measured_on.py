"""The site a measurement was taken on: what a data file must still match to be current.

The waiting times record each partition and its node count at the time they were collected,
the hub's measurements each place of the spawn form they timed. The book compares these sets
with the site as it is now (`hpc_handbook.site_facts.freshness`), never the dates.
"""

from __future__ import annotations

from pydantic import Field

from hpc_handbook.data.files import DataModel


class MeasuredOn(DataModel):
    """The parts of the site a measurement covered."""

    #: Each partition that existed, with its number of nodes.
    partitions: dict[str, int] = Field(default_factory=dict)
    #: Each place of the spawn form, by its value.
    places: list[str] = Field(default_factory=list)
    #: Each JupyterLab environment of the spawn form beyond its default, by its value.
    environments: list[str] = Field(default_factory=list)
