"""The profile's `jupyter:` section: the JupyterLab environments users choose from, their own
start-up script, the extension policy and how long an idle server lives.

A service offers its current JupyterLab environment and may keep earlier ones, so a user whose
kernel or extension needs the JupyterLab around it can go back; each keeps its own settings.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from hpc_handbook.data.snapshot import OWN_ENVIRONMENT
from hpc_handbook.profile.base import Strict

#: An environment's name, as the spawn form and the REST API take it: `2026.12`, `lab-4.2`.
EnvironmentName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=32)]
#: A JupyterLab release: `4.5.6`.
Version = Annotated[str, StringConstraints(pattern=r"^\d+\.\d+(\.\d+)?$")]


class JupyterEnvironment(Strict):
    """One JupyterLab environment a server can start in."""

    name: EnvironmentName
    label: str = Field(min_length=1, description="What the spawn form shows: `JupyterLab 4.5 (current)`.")
    jupyterlab: Version | None = Field(
        default=None, description="The JupyterLab release the environment has; none: the site's own."
    )
    extensions: list[str] = Field(default_factory=list, description="The JupyterLab extensions it has.")
    default: bool = Field(default=False, description="Where a server starts unless the user picks another.")
    retires: dt.date | None = Field(default=None, description="When the environment leaves the form.")

    def retired(self, today: dt.date) -> bool:
        return self.retires is not None and self.retires <= today


class OwnEnvironment(Strict):
    """A server from the user's own start-up script, in an environment the user installed."""

    script: str = Field(
        default=".jupyter/start-server",
        min_length=1,
        description="The script's path in the user's home; it ends by starting `jupyterhub-singleuser`.",
    )

    @model_validator(mode="after")
    def _relative(self) -> OwnEnvironment:
        if self.script.startswith("/") or ".." in self.script.split("/"):
            raise ValueError("expected a path inside the home folder, such as .jupyter/start-server")
        return self


class JupyterSetup(Strict):
    #: The extensions of the one environment of a profile that lists no `environments`.
    extensions: list[str] = Field(default_factory=list)
    environments: list[JupyterEnvironment] = Field(default_factory=list)
    own_environment: OwnEnvironment | None = None
    server_proxy_allowed: list[str] = Field(default_factory=list)
    users_can_install_extensions: bool = False
    idle_timeout_minutes: int | None = Field(
        default=None, ge=5, description="An idle server is stopped after this long; none: never."
    )

    @model_validator(mode="after")
    def _one_default(self) -> JupyterSetup:
        if self.environments and self.extensions:
            raise ValueError("with environments, list each environment's extensions under it")
        names = [environment.name for environment in self.environments]
        if len(set(names)) != len(names) or OWN_ENVIRONMENT in names:
            raise ValueError(
                f"expected environment names that differ from each other and from {OWN_ENVIRONMENT}"
            )
        if sum(environment.default for environment in self.environments) > 1:
            raise ValueError("expected one default environment at most")
        return self

    @property
    def offered(self) -> list[JupyterEnvironment]:
        """The environments the spawn form offers, the default first; one plain one when none are listed."""
        if not self.environments:
            return [
                JupyterEnvironment(
                    name="default", label="JupyterLab", extensions=self.extensions, default=True
                )
            ]
        default = next((e for e in self.environments if e.default), self.environments[0])
        return [default, *(e for e in self.environments if e is not default)]

    @property
    def default_environment(self) -> JupyterEnvironment:
        return self.offered[0]

    def available(self, today: dt.date) -> list[JupyterEnvironment]:
        """What the spawn form offers on `today`: the environments that have not retired yet."""
        return [e for e in self.offered if not e.retired(today) or e.default]
