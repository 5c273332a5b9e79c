"""The reference site's spawner: the form's place and environment, each started by the field's spawners.

`HandbookSpawner` is a wrapspawner `WrapSpawner`. On the login node it starts the server with
JupyterHub's `LocalProcessSpawner`; on a partition with `HandbookSlurmSpawner`, which is
jupyterhub-moss's `MOSlurmSpawner` (batchspawner's `SlurmSpawner` with JupyterLab
environments by path) plus the form's node count and the experts' #SBATCH lines. jupyterhub-moss's
own form is not used: it has no login-node place and no node count. Either way the server
starts in the environment the form names, or from the user's own start-up script, which is
checked before anything is queued.

Copied next to `jupyterhub_config.py` by `hpc-handbook site up`; edits are overwritten.
"""

import asyncio
import datetime as dt
import importlib.metadata
import json
import pwd
import subprocess
from pathlib import Path

from batchspawner import JobStatus
from handbook_forecast import (
    Forecast,
    forecast_text,
    parse_will_run,
    pending_text,
    recent_waits,
    squeue_start_command,
    will_run_command,
)
from handbook_job_queue import JobQueue
from handbook_own_environment import MESSAGES, StartScriptError, check_start_script
from handbook_slurm_answers import (
    SACCTMGR_ASSOCIATIONS,
    SACCTMGR_DEFAULT_PROJECTS,
    SINFO_IDLE_CPUS,
    idle_cpus,
    partitions_down,
    slurm_refusal,
    user_projects,
)
from handbook_spawn_form import form_html
from handbook_spawn_options import (
    LOGIN_NODE,
    Environment,
    Place,
    SpawnOptionError,
    check_options,
    options_from_form,
    walltime_seconds,
)
from jupyterhub.handlers import BaseHandler
from jupyterhub.spawner import LocalProcessSpawner
from jupyterhub_moss import MOSlurmSpawner
from jupyterhub_moss.models import UserOptions
from tornado import web
from tornado.web import HTTPError
from traitlets import Unicode
from wrapspawner import WrapSpawner

SETTINGS = json.loads((Path(__file__).resolve().parent / "hub-settings.json").read_text(encoding="utf-8"))
PLACES = [Place.from_json(place) for place in SETTINGS["places"]]
ENVIRONMENTS = [Environment.from_json(environment) for environment in SETTINGS["environments"]]
BY_KEY = {place.key: place for place in PLACES}
DEFAULT_WALLTIME = "01:00:00"
ENVIRONMENT_BY_KEY = {environment.key: environment for environment in ENVIRONMENTS}

# What the hub's /hub/api/info reports for this spawner: the parts that really start servers.
__version__ = ", ".join(
    f"{package} {importlib.metadata.version(package)}"
    for package in ("wrapspawner", "jupyterhub-moss", "batchspawner", "jupyterhub")
)


#: How long Slurm's answers for the form are reused: a crowd opening the form asks Slurm once.
SLURM_ANSWER_TTL_S = 10
_slurm_answers = {}


async def _run(command, timeout_s=10):
    """(exit status, stdout and stderr together) of a command; (None, '') when it did not end."""
    process = None
    try:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd="/"
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    except (TimeoutError, OSError):
        # The form then says Slurm did not answer; a hung command does not stay behind.
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        return None, ""
    return process.returncode, output.decode(errors="replace")


async def _ask_slurm(command, *, whole_answer=False):
    """A Slurm command's output, reused for SLURM_ANSWER_TTL_S; None when Slurm does not answer
    (with `whole_answer`, (status, output), whatever the status)."""
    loop = asyncio.get_running_loop()
    cached = _slurm_answers.get(command)
    if cached is None or loop.time() - cached[0] >= SLURM_ANSWER_TTL_S:
        cached = (loop.time(), await _run(command))
        _slurm_answers[command] = cached
    status, output = cached[1]
    if whole_answer:
        return status, output
    return output if status == 0 else None


async def forecast_for(user, place, walltime, nodes, cpus, project):
    """When the user's server would start on the place at this size, in words."""
    now = dt.datetime.now().replace(microsecond=0)
    minutes = walltime_seconds(walltime) // 60
    history = recent_waits(SETTINGS.get("waiting_times"), place.partition, nodes, minutes)
    # Slurm estimates a start on a partition that is down as if it were up.
    if place.partition in partitions_down(await _ask_slurm(SINFO_IDLE_CPUS) or ""):
        return forecast_text(Forecast(place.partition, None, MESSAGES["partition_down"], history, now))
    will_run = will_run_command(place.partition, walltime, nodes, cpus, project)
    _, output = await _ask_slurm(("runuser", "-u", user, "--", *will_run), whole_answer=True)
    start = parse_will_run(output)
    refusal = slurm_refusal(output)
    if start is None and refusal is not None:
        return forecast_text(Forecast(place.partition, None, refusal, history, now, refused=True))
    # No start time without a refusal: e.g. every node of the partition is drained.
    note = None if start is not None else (output.strip().splitlines() or ["Slurm did not answer"])[-1]
    return forecast_text(Forecast(place.partition, start, note, history, now))


async def forecast_for_options(user, options):
    """The forecast for what a user entered on the form (the forecast handler's answer)."""
    try:
        checked = check_options(options, PLACES, ENVIRONMENTS, await projects_of(user))
    except SpawnOptionError as error:
        return MESSAGES["forecast_form_refuses"].format(reason=error)
    place = BY_KEY[checked["place"]]
    if place.partition is None:
        return MESSAGES["forecast_login"]
    return await forecast_for(
        user, place, checked["walltime"], checked["nodes"], checked["cpus"], checked.get("project")
    )


class ForecastHandler(BaseHandler):
    """/hub/forecast: the form's forecast for the place and size entered, as {"text": ...}."""

    @web.authenticated
    async def get(self):
        keys = ("place", "project", "walltime", "nodes", "cpus")
        options = {key: self.get_argument(key) for key in keys if self.get_argument(key, "")}
        text = await forecast_for_options(self.current_user.name, options)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"text": text}))


async def projects_of(user):
    """The projects Slurm's accounting lets the user charge, default first; [] where it has none."""
    associations = await _ask_slurm(SACCTMGR_ASSOCIATIONS)
    defaults = await _ask_slurm(SACCTMGR_DEFAULT_PROJECTS)
    return user_projects(associations or "", defaults or "", user)


async def options_form(spawner):
    """The spawn form, with what each partition has idle now, the user's projects, and when a
    server of the form's default size would start on each place."""
    user = spawner.user.name
    sinfo = await _ask_slurm(SINFO_IDLE_CPUS)
    idle = idle_cpus(sinfo) if sinfo is not None else {}
    projects = await projects_of(user)
    default = projects[0].name if projects else None
    slurm_places = [place for place in PLACES if place.partition is not None]
    said = await asyncio.gather(
        *(forecast_for(user, place, DEFAULT_WALLTIME, 1, 1, default) for place in slurm_places)
    )
    forecasts = {LOGIN_NODE: MESSAGES["forecast_login"]} | {
        place.key: text for place, text in zip(slurm_places, said, strict=True)
    }
    return form_html(
        PLACES,
        ENVIRONMENTS,
        default_walltime=DEFAULT_WALLTIME,
        idle=idle,
        projects=projects,
        forecasts=forecasts,
        forecast_url=f"{spawner.hub.base_url}forecast",
        forecast_words={
            "heading": MESSAGES["forecast_heading"],
            "hint": MESSAGES["forecast_defaults"].format(walltime=DEFAULT_WALLTIME)
            + " "
            + MESSAGES["forecast_uncertainty"],
        },
    )


def end_idle_podman(user):
    """End the user's podman pause process when no container of the user is left.

    A user's first podman starts a process that holds the user's namespace for every later one and
    outlives them all; a stopped server would otherwise leave it running. `podman system migrate`
    is podman's own way to end it; the next podman starts a new one.
    """
    podman = SETTINGS.get("podman")
    if not podman or not Path(podman["user_storage"].replace("$USER", user)).exists():
        return
    command = ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in podman["environment"].items())]
    try:
        listed = subprocess.run(
            [*command, "podman", "ps", "--quiet"], cwd="/", capture_output=True, text=True, timeout=60
        )
        if listed.returncode == 0 and not listed.stdout.strip():
            subprocess.run(
                [*command, "podman", "system", "migrate"], cwd="/", capture_output=True, timeout=60
            )
    except (OSError, subprocess.TimeoutExpired):
        pass  # the server has stopped all the same; podman's process stays until the next stop


#: Every Slurm spawner's job state, from one squeue for all of them (handbook_job_queue.py).
JOB_QUEUE = JobQueue(_run)


class HandbookSlurmSpawner(MOSlurmSpawner):
    """jupyterhub-moss's Slurm spawner with the form's node count and the experts' #SBATCH lines."""

    req_nnodes = Unicode("1").tag(config=True)
    #: How often the progress page asks Slurm again when a pending server would start.
    estimate_every_s = 5

    async def query_job_status(self):
        # batchspawner's own query starts `runuser ... squeue -j ID` per server and poll: under a
        # storm of spawns those cost more CPU than the servers. The same answer, shared.
        if not self.job_id:
            self.job_status = ""
            return JobStatus.NOTFOUND
        self.job_status = await JOB_QUEUE.status(self.job_id)
        if self.state_isrunning():
            return JobStatus.RUNNING
        if self.state_ispending():
            return JobStatus.PENDING
        if self.state_isunknown():
            return JobStatus.UNKNOWN
        return JobStatus.NOTFOUND

    async def progress(self):
        # batchspawner says only "Pending in queue..."; say when Slurm expects to start it.
        asked_at, message = None, None
        loop = asyncio.get_running_loop()
        while True:
            if self.state_ispending():
                if asked_at is None or loop.time() - asked_at >= self.estimate_every_s:
                    asked_at = loop.time()
                    _, output = await _run(squeue_start_command(self.job_id))
                    message = pending_text(output, dt.datetime.now())
                yield {"message": message}
            elif self.state_isrunning():
                yield {"message": "Cluster job running... waiting to connect"}
                return
            else:
                yield {"message": "Unknown status..."}
            await asyncio.sleep(1)


def _home(user: str) -> str:
    return pwd.getpwnam(user).pw_dir


def environment_variables(environment: Environment, user: str) -> dict[str, str]:
    """Each environment keeps its JupyterLab settings apart; the own one says which script to run."""
    home = _home(user)
    if environment.script is not None:
        return {"HANDBOOK_START_SCRIPT": f"{home}/{environment.script}"}
    if environment.settings is None:
        return {}
    folder = f"{home}/{environment.settings}"
    return {
        "JUPYTERLAB_SETTINGS_DIR": f"{folder}/user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": f"{folder}/workspaces",
    }


class HandbookSpawner(WrapSpawner):
    """The spawn form's choice: where (the login node or a partition) and in which environment."""

    _starting = False

    async def options_from_form(self, formdata):
        # A ValueError here is shown on the form, and nothing is queued.
        options = check_options(
            options_from_form(formdata), PLACES, ENVIRONMENTS, await projects_of(self.user.name)
        )
        await self._check_start_script(options)
        return options

    async def _check_start_script(self, options):
        environment = ENVIRONMENT_BY_KEY.get(options.get("environment", ""))
        if environment is None or environment.script is None:
            return
        # The environment a server gets from the site (PATH, Lmod), not the hub's own.
        version, variables = SETTINGS["hub_version"], dict(self.environment)
        await asyncio.to_thread(check_start_script, self.user.name, environment.script, version, variables)

    def _choose(self, options):
        place = BY_KEY[options["place"]]
        environment = ENVIRONMENT_BY_KEY[options.get("environment") or ENVIRONMENTS[0].key]
        variables = {**self.environment, **environment_variables(environment, self.user.name)}
        if place.partition is None:
            self.child_class = LocalProcessSpawner
            command = [f"{environment.bin}/jupyterhub-singleuser"]
            self.child_config = {"cmd": command, "environment": variables}
            return
        self.child_class = HandbookSlurmSpawner
        # jupyterhub-moss starts the environment's own jupyterhub-singleuser and batchspawner-singleuser.
        moss = UserOptions(
            partition=place.partition,
            runtime=options["walltime"],
            nprocs=options["cpus"],
            environment_id=environment.key,
            environment_path=environment.bin,
            default_url=self.default_url or "/lab",
        )
        self.child_config = {
            "user_options": moss.model_dump(),
            "req_partition": place.partition,
            "req_account": options.get("project", ""),
            "req_runtime": options["walltime"],
            "req_nnodes": str(options["nodes"]),
            "req_nprocs": str(options["cpus"]),
            "req_options": "\n".join(options["extra_sbatch"]),
            "environment": variables,
        }

    async def start(self):
        # REST API requests skip the form: check their options here, before anything is queued.
        try:
            options = check_options(
                dict(self.user_options or {}), PLACES, ENVIRONMENTS, await projects_of(self.user.name)
            )
            await self._check_start_script(options)
        except (SpawnOptionError, StartScriptError) as error:
            # A 400 with the reason, not a failed spawn: the request was wrong, not the site.
            raise HTTPError(400, str(error)) from None
        self.user_options = options
        self.child_spawner = None
        self._choose(options)
        environment = ENVIRONMENT_BY_KEY[options["environment"]]
        try:
            self._starting = True
            started = await super().start()
            if environment.script is not None:
                await self._until_answering(started)
            return started
        except Exception as error:
            refusal = slurm_refusal(str(error))
            if refusal is not None:
                # Slurm's reason, where the user and the doc CI see it, not only in the hub's log.
                place = BY_KEY[options["place"]].partition
                message = MESSAGES["slurm_refused"].format(partition=place, reason=refusal)
                raise HTTPError(500, "%s", message) from error
            if environment.script is None:
                raise
            # An HTTPError's message is what the REST API answers and the progress page shows.
            raise HTTPError(
                500,
                "%s",
                MESSAGES["script_started_no_server"].format(script=environment.script, error=error),
            ) from error
        finally:
            self._starting = False

    async def _until_answering(self, started):
        """A script that ends without a server fails the spawn now, not after http_timeout.

        On the login node the process ends; in a Slurm job, its job (batchspawner has its port by then).
        """
        ip, port = started if isinstance(started, tuple) else (self.ip, self.port)
        deadline = asyncio.get_running_loop().time() + self.http_timeout
        while asyncio.get_running_loop().time() < deadline:
            status = await self.child_spawner.poll()
            if status is not None:
                raise RuntimeError(f"it ended with status {status}")
            try:
                _, writer = await asyncio.open_connection(ip or "127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.5)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise TimeoutError(f"nothing answered on port {port} within {self.http_timeout} s")

    async def progress(self):
        # WrapSpawner has no child while the start-up script is checked: say what is happening
        # instead of failing the progress page, then follow the child (or the failed spawn).
        if self.child_spawner is None:
            yield {"progress": 5, "message": MESSAGES["checking_environment"]}
            while self.child_spawner is None and self.pending == "spawn":
                await asyncio.sleep(0.5)
        if self.child_spawner is not None:
            async for event in self.child_spawner.progress():
                yield event

    async def poll(self):
        # While start() runs, it alone says how the spawn ends (with the reason). JupyterHub polls
        # a slow spawn too, and a child that already ended would turn that into a bare HTTP 500.
        if self._starting:
            return None
        return await super().poll()

    async def stop(self, now=False):
        await super().stop(now)
        # The server's container kernels ended with it; podman's own process goes too.
        await asyncio.to_thread(end_idle_podman, self.user.name)

    def get_state(self):
        state = super().get_state()
        state["place"] = (self.user_options or {}).get("place", LOGIN_NODE)
        return state

    def load_child_class(self, state):
        place = BY_KEY.get(state.get("place", LOGIN_NODE))
        if place is not None and place.partition is not None:
            self.child_class = HandbookSlurmSpawner
        else:
            self.child_class = LocalProcessSpawner
