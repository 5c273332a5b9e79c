"""What every part of the profile's schema shares: strict models and the value types used twice."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints


class Strict(BaseModel):
    # A typo in a key must be an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


#: A Slurm walltime as the profile and the examples write it: [D-]HH:MM:SS.
Walltime = Annotated[str, StringConstraints(pattern=r"^(\d+-)?\d{1,2}:\d{2}:\d{2}$")]
#: A name the profile gives a partition, kernel, image or project: lower case, as Slurm and Unix take it.
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)]
