"""The profile's projects (the Slurm accounts jobs are charged to) and the reference site's accounts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from hpc_handbook.profile.base import Name, Strict, Walltime


class ProjectLimits(Strict):
    """What Slurm's accounting holds a project to; each is enforced by Slurm itself."""

    max_cpus: int | None = Field(
        default=None,
        ge=1,
        description="CPU cores the project's running jobs may hold at once (Slurm's GrpTRES=cpu).",
    )
    max_walltime: Walltime | None = Field(
        default=None, description="The longest time limit one of the project's jobs may ask for (MaxWall)."
    )


class Project(Strict):
    """A project users charge their jobs to: a Slurm account in the site's accounting."""

    name: Name
    description: str = Field(min_length=1)
    limits: ProjectLimits = ProjectLimits()


#: A Unix account name as `useradd` takes it.
UnixName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")]
#: What a test account is for: the novice walks the getting-started pages, the doc CI runs examples,
#: load-test accounts log in at once for the service's load measurement.
AccountPurpose = Literal["novice", "doc-ci", "load-test"]


class SiteAccount(Strict):
    name: UnixName
    purpose: AccountPurpose
    project: Name = Field(
        description="The project whose folder ($PROJECT) the account shares; its jobs' default account."
    )
    more_projects: list[Name] = Field(
        default_factory=list, description="Further projects the account may charge its jobs to."
    )

    @property
    def projects(self) -> list[str]:
        """Every project the account may charge, its default first."""
        return [self.project, *(p for p in self.more_projects if p != self.project)]


class LoadTestAccounts(Strict):
    """Numbered accounts (`rcc-load01`, ...) for the load measurement, all in one project."""

    count: int = Field(ge=1, le=99, description="How many accounts log in at once.")
    name_prefix: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,28}$")]
    project: Name

    def members(self) -> list[SiteAccount]:
        return [
            SiteAccount(name=f"{self.name_prefix}{n:02d}", purpose="load-test", project=self.project)
            for n in range(1, self.count + 1)
        ]


class ReferenceSiteSetup(Strict):
    """What only the reference site needs: its test accounts and where its hub listens."""

    hub_port: int = Field(default=8000, ge=1024, le=65535, description="The hub's port on loopback.")
    hub_api_port: int = Field(default=8081, ge=1024, le=65535, description="The hub's own API port.")
    users: list[SiteAccount] = Field(default_factory=list)
    load_test: LoadTestAccounts | None = Field(
        default=None,
        description="Accounts that `nox -s bench` logs in at once to measure the hub under load.",
    )

    @property
    def accounts(self) -> list[SiteAccount]:
        """The named accounts, then the numbered load-test ones."""
        return [*self.users, *(self.load_test.members() if self.load_test else [])]
