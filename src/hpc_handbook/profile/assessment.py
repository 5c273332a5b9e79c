"""What the administrators themselves say of the service: the limitations the profile cannot
express, and their answers for the scorecard's criteria that nothing measures, each with the
component it is about and when it was last reviewed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import Field, model_validator

from hpc_handbook.changelog.fragments import Component
from hpc_handbook.profile.base import Strict

#: Where the service scorecard's criteria are declared, once, with their wording: in the four
#: groups of the white paper the handbook follows (accessibility, HPC resources, documentation,
#: customization). `self_assessment` answers name one of them; the scorecard page words each one.
SCORECARD_FILE = Path(__file__).parent.parent / "book" / "data" / "scorecard.yml"


def _criterion_ids(path: Path) -> tuple[str, ...]:
    """Read the scorecard's criterion ids from their one declaration."""
    declared = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(criterion["id"] for criterion in declared["criteria"])


SCORECARD_CRITERIA = _criterion_ids(SCORECARD_FILE)
if TYPE_CHECKING:
    CriterionId = str
else:
    # A Literal built at run time: pydantic checks the ids and lists them in the schema.
    CriterionId = Literal[SCORECARD_CRITERIA]
#: "untested" is an honest answer too: better than a guess.
Rating = Literal["yes", "partly", "no", "untested"]


class Limitation(Strict):
    """A limitation the profile cannot express, written down by the administrators."""

    title: str = Field(min_length=1, description="What the service cannot do, in a few words.")
    details: str = Field(min_length=1, description="Who it affects and when.")
    workaround: str = Field(min_length=1, description="What to do instead.")
    since: dt.date = Field(description="When the limitation was first noted.")
    reviewed: dt.date = Field(description="When an administrator last checked that it still holds.")
    component: Component = Field(
        description="What it is about (a changelog component): a change of it since the review makes "
        "the doc CI ask for a new review."
    )

    @model_validator(mode="after")
    def _reviewed_after_since(self) -> Limitation:
        if self.reviewed < self.since:
            raise ValueError("'reviewed' cannot be before 'since'")
        return self


class KnownLimitations(Strict):
    reviewed: dt.date | None = Field(
        default=None, description="When the administrators last reviewed the limitations page as a whole."
    )
    since: dt.date | None = Field(
        default=None,
        description="Since when the limitations that follow from this profile (partitions Jupyter "
        "cannot reach, missing capabilities, extension policy) hold.",
    )
    entries: list[Limitation] = Field(default_factory=list, description="Limitations beyond the profile's.")


class Assessment(Strict):
    rating: Rating
    note: str = Field(min_length=1, description="The evidence behind the rating, for readers.")
    component: Component = Field(
        description="What the answer is about (a changelog component): a change of it since the "
        "review makes the doc CI ask for a new review."
    )
    reviewed: dt.date | None = Field(
        default=None, description="When this answer was last checked; default: the section's `reviewed`."
    )


class SelfAssessment(Strict):
    """The administrators' own answers for the scorecard criteria nothing can measure."""

    reviewed: dt.date | None = Field(default=None, description="When the answers were last reviewed.")
    answers: dict[CriterionId, Assessment] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _every_answer_has_a_review_date(self) -> SelfAssessment:
        undated = [key for key, answer in self.answers.items() if answer.reviewed is None]
        if undated and self.reviewed is None:
            raise ValueError(f"{', '.join(undated)}: no 'reviewed' date here or for the section")
        return self

    def reviewed_on(self, criterion: str) -> dt.date:
        """When the answer for a criterion was last checked."""
        answer = self.answers[criterion]
        reviewed = answer.reviewed or self.reviewed
        assert reviewed is not None  # the validator above makes sure
        return reviewed
