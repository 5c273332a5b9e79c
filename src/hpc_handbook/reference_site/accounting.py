"""Slurm accounting of the reference site: MariaDB, slurmdbd, and the profile's projects in it.

As on a real site, slurmdbd keeps every job's record in MariaDB (`sacct` reads them), and the
projects users charge their jobs to are Slurm accounts with their users and limits (`sacctmgr`).
slurmctld enforces them (AccountingStorageEnforce): a job for a project its user is not in, or
beyond the project's limits, is refused by Slurm itself.

MariaDB listens on no network port: slurmdbd, running as root, reaches it through its socket and
MariaDB's socket authentication, so there is no database password to keep anywhere.
"""

from __future__ import annotations

import pwd
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.paths import (
    GENERATED_NOTE,
    SITE_LOG_DIR,
    SITE_RUN_DIR,
    SITE_STATE_DIR,
    SLURM_CONF,
    ReferenceSiteError,
    site_slug,
)
from hpc_handbook.reference_site.slurm_conf import SLURMDBD_PORT
from hpc_handbook.reference_site.system import (
    Log,
    find_processes,
    run,
    stop_processes,
    wait_for,
    write_if_changed,
)

ACCOUNTING_APT_PACKAGES = ("slurmdbd", "mariadb-server")
ACCOUNTING_DAEMONS = ("mariadbd", "slurmdbd")
SLURMDBD_CONF = SLURM_CONF.with_name("slurmdbd.conf")
MARIADB_DATA_DIR = SITE_STATE_DIR / "mariadb"
#: MariaDB's default socket, where its client and slurmdbd look without being told.
MARIADB_SOCKET_DIR = "/run/mysqld"
MARIADB_LOG = SITE_LOG_DIR / "mariadb.log"
ACCOUNTING_DATABASE = "slurm_acct_db"
#: The account and user `sacctmgr add cluster` creates; the site keeps them for root's own jobs.
ROOT = "root"
#: The QOS every association uses by default. DenyOnLimit makes Slurm refuse, at submission, a job
#: beyond its project's limits; without it such a job would wait in the queue forever.
DEFAULT_QOS = "normal"
QOS_FLAGS = "DenyOnLimit"


def slurmdbd_conf() -> str:
    return "\n".join(
        [
            "# slurmdbd.conf of the reference site: job records and projects in MariaDB.",
            f"# {GENERATED_NOTE}",
            "AuthType=auth/munge",
            "DbdHost=localhost",
            f"DbdPort={SLURMDBD_PORT}",
            "SlurmUser=root",
            f"PidFile={SITE_RUN_DIR / 'slurmdbd.pid'}",
            f"LogFile={SITE_LOG_DIR / 'slurmdbd.log'}",
            "StorageType=accounting_storage/mysql",
            "# localhost: through MariaDB's socket, as root by socket authentication (no password).",
            "StorageHost=localhost",
            "StorageUser=root",
            f"StorageLoc={ACCOUNTING_DATABASE}",
            "",
        ]
    )


def _mariadb_answers() -> bool:
    result = run(["mariadb-admin", "--no-defaults", "--user=root", "ping"], check=False, timeout=10)
    return result.returncode == 0


def _slurmdbd_answers() -> bool:
    return run(["sacctmgr", "--noheader", "show", "cluster"], check=False, timeout=20).returncode == 0


def _log_tail(name: str) -> str:
    try:
        lines = (SITE_LOG_DIR / name).read_text(errors="replace").splitlines()
    except OSError:
        return f"no log at {SITE_LOG_DIR / name}"
    reasons = [line for line in lines if "error" in line.lower() or "fatal" in line.lower()]
    return "; ".join(reasons[-3:]) or (lines[-1] if lines else "its log is empty")


def ensure_mariadb(log: Log, env: Mapping[str, str]) -> None:
    """MariaDB with the accounting database's data folder, listening on its socket only."""
    if not (MARIADB_DATA_DIR / "mysql").is_dir():
        log("creating the accounting database's data folder (mariadb-install-db)")
        MARIADB_DATA_DIR.mkdir(parents=True, exist_ok=True)
        shutil.chown(MARIADB_DATA_DIR, "mysql", "mysql")
        run(
            [
                "mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={MARIADB_DATA_DIR}",
                "--auth-root-authentication-method=socket", "--skip-test-db",
            ],
            timeout=300,
        )  # fmt: skip
    if find_processes("mariadbd") and _mariadb_answers():
        return
    stop_processes("mariadbd")
    socket_dir = MARIADB_SOCKET_DIR
    run(["install", "-d", "-o", "mysql", "-g", "mysql", socket_dir])
    SITE_LOG_DIR.mkdir(parents=True, exist_ok=True)
    log("starting MariaDB (its socket only, no network port)")
    with open(MARIADB_LOG, "ab") as output:
        subprocess.run(
            [
                "setsid", "--fork", "/usr/sbin/mariadbd", "--no-defaults", "--user=mysql",
                f"--datadir={MARIADB_DATA_DIR}", "--skip-networking",
                # Half what slurmdbd recommends, the least it accepts without logging an error.
                "--innodb-buffer-pool-size=512M", "--innodb-lock-wait-timeout=900",
                f"--pid-file={MARIADB_SOCKET_DIR}/mariadbd.pid", f"--log-error={MARIADB_LOG}",
            ],
            check=True, env=dict(env), stdin=subprocess.DEVNULL, stdout=output, stderr=output,
        )  # fmt: skip
    try:
        wait_for(_mariadb_answers, timeout_s=60, what="MariaDB to answer")
    except ReferenceSiteError:
        raise ReferenceSiteError(f"MariaDB did not start: {_log_tail('mariadb.log')}") from None


def ensure_slurmdbd(profile: Profile, log: Log, env: Mapping[str, str]) -> None:
    """MariaDB and slurmdbd running, with this site's cluster registered: before slurmctld starts."""
    ensure_mariadb(log, env)
    changed = write_if_changed(SLURMDBD_CONF, slurmdbd_conf(), mode=0o600)
    running = bool(find_processes("slurmdbd"))
    if running and (changed or not _slurmdbd_answers()):
        log("restarting slurmdbd" + (" (slurmdbd.conf changed)" if changed else " (it does not answer)"))
        stop_processes("slurmdbd")
        running = False
    if not running:
        log("starting slurmdbd")
        result = run(["/usr/sbin/slurmdbd"], check=False, env=dict(env))
        if result.returncode != 0:
            raise ReferenceSiteError(f"slurmdbd did not start: {_log_tail('slurmdbd.log')}")
        try:
            # Its first start creates the database's tables, which takes a while on a small machine.
            wait_for(_slurmdbd_answers, timeout_s=120, what="slurmdbd to answer")
        except ReferenceSiteError:
            raise ReferenceSiteError(f"slurmdbd does not answer: {_log_tail('slurmdbd.log')}") from None
    cluster = site_slug(profile)
    if cluster not in _sacctmgr_rows("show", "cluster", "format=cluster"):
        log(f"registering cluster {cluster} in the accounting database")
        _sacctmgr("add", "cluster", cluster)


def stop_accounting() -> None:
    stop_processes("slurmdbd")
    stop_processes("mariadbd", timeout_s=30)


# Projects ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectLimitsInSlurm:
    """A project's limits as sacctmgr shows and takes them: '' means none."""

    grp_tres: str
    max_wall: str


def wanted_projects(profile: Profile) -> dict[str, ProjectLimitsInSlurm]:
    """Each project the site's accounts charge (declared or named by an account), with its limits."""
    names = [p.name for p in profile.projects]
    if profile.reference_site is not None:
        names += [name for account in profile.reference_site.accounts for name in account.projects]
    wanted = {}
    for name in dict.fromkeys(names):
        limits = profile.project(name).limits
        wanted[name] = ProjectLimitsInSlurm(
            grp_tres=f"cpu={limits.max_cpus}" if limits.max_cpus else "",
            max_wall=_sacctmgr_walltime(limits.max_walltime) if limits.max_walltime else "",
        )
    return wanted


def wanted_members(profile: Profile) -> dict[str, list[str]]:
    """{account name: its projects, default first}."""
    if profile.reference_site is None:
        return {}
    return {account.name: account.projects for account in profile.reference_site.accounts}


def _sacctmgr_walltime(walltime: str) -> str:
    """The profile's [D-]HH:MM:SS as sacctmgr prints it back ("02:00:00", "1-00:00:00")."""
    days, _, clock = walltime.rpartition("-")
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    days_total = int(days or 0) + hours // 24
    hours %= 24
    return (f"{days_total}-" if days_total else "") + f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _sacctmgr(*args: str) -> str:
    result = run(["sacctmgr", "--immediate", *args], check=False, timeout=60)
    if result.returncode != 0:
        raise ReferenceSiteError(
            f"`sacctmgr {' '.join(args)}` failed: {(result.stderr or result.stdout).strip()}"
        )
    return result.stdout


def _sacctmgr_rows(*args: str) -> list[str]:
    result = run(["sacctmgr", "--noheader", "--parsable2", *args], check=False, timeout=60)
    if result.returncode != 0:
        raise ReferenceSiteError(
            f"`sacctmgr {' '.join(args)}` failed: {(result.stderr or result.stdout).strip()}"
        )
    return [line for line in result.stdout.splitlines() if line]


@dataclass(frozen=True)
class AccountingState:
    """What the accounting database holds for this cluster now."""

    projects: dict[str, ProjectLimitsInSlurm]
    members: dict[str, set[str]]  # user: projects
    default_projects: dict[str, str]
    qos_flags: str


def accounting_state(profile: Profile) -> AccountingState:
    cluster = site_slug(profile)
    projects: dict[str, ProjectLimitsInSlurm] = {}
    members: dict[str, set[str]] = {}
    rows = _sacctmgr_rows(
        "show", "association", "where", f"cluster={cluster}", "format=account,user,grptres,maxwall"
    )
    for row in rows:
        account, user, grp_tres, max_wall = row.split("|")
        if user:
            members.setdefault(user, set()).add(account)
        elif account != ROOT:
            projects[account] = ProjectLimitsInSlurm(grp_tres=grp_tres, max_wall=max_wall)
    defaults = dict(row.split("|", 1) for row in _sacctmgr_rows("show", "user", "format=user,defaultaccount"))
    flags = _sacctmgr_rows("show", "qos", DEFAULT_QOS, "format=flags")
    return AccountingState(
        projects=projects, members=members, default_projects=defaults, qos_flags=(flags or [""])[0]
    )


def accounting_drift(profile: Profile, state: AccountingState) -> list[str]:
    """What differs between the accounting database and the profile, in words; empty when nothing."""
    drift = []
    if state.qos_flags != QOS_FLAGS:
        drift.append(f"QOS {DEFAULT_QOS} has flags {state.qos_flags or 'none'}, not {QOS_FLAGS}")
    wanted = wanted_projects(profile)
    for name, limits in wanted.items():
        found = state.projects.get(name)
        if found is None:
            drift.append(f"project {name} is missing")
        elif found != limits:
            drift.append(
                f"project {name} has GrpTRES={found.grp_tres or 'none'} MaxWall={found.max_wall or 'none'}, "
                f"the profile says GrpTRES={limits.grp_tres or 'none'} MaxWall={limits.max_wall or 'none'}"
            )
    drift += [f"project {name} is not in the profile" for name in sorted(set(state.projects) - set(wanted))]
    members = wanted_members(profile)
    for user, projects in members.items():
        have = state.members.get(user, set())
        if have != set(projects):
            listed = ", ".join(sorted(have)) or "no project"
            drift.append(f"user {user} is in {listed}, not {', '.join(projects)}")
        elif (default := state.default_projects.get(user)) != projects[0]:
            drift.append(f"user {user}'s default project is {default}, not {projects[0]}")
    drift += [
        f"user {user} is not a site account" for user in sorted(set(state.members) - set(members) - {ROOT})
    ]
    return drift


def controller_problems(profile: Profile) -> list[str]:
    """What slurmctld's copy of the projects lacks: a member it cannot map to the account's uid, or
    without the default project (then every job of that user is refused)."""
    result = run(["scontrol", "show", "assoc_mgr", "flags=users"], check=False, timeout=30)
    if result.returncode != 0:
        return [f"`scontrol show assoc_mgr` failed: {(result.stderr or result.stdout).strip()}"]
    known = {
        match.group(1): (match.group(2), match.group(3))
        for match in re.finditer(r"UserName=(\S+?)\((\S+)\) DefAccount=(\S+)", result.stdout)
    }
    problems = []
    for user, projects in wanted_members(profile).items():
        try:
            uid = str(pwd.getpwnam(user).pw_uid)
        except KeyError:
            continue  # no account yet: `site up` makes it
        found = known.get(user)
        if found is None or found[0] != uid:
            problems.append(f"it does not know user {user} as uid {uid}")
        elif found[1] != projects[0]:
            problems.append(f"it has {found[1]} as {user}'s default project, not {projects[0]}")
    return problems


def ensure_projects(profile: Profile, log: Log) -> None:
    """Bring the accounting database's projects, their limits and members to the profile."""
    cluster = site_slug(profile)
    state = accounting_state(profile)
    wanted = wanted_projects(profile)
    members = wanted_members(profile)
    if state.qos_flags != QOS_FLAGS:
        log(f"accounting: QOS {DEFAULT_QOS} refuses jobs beyond their limits ({QOS_FLAGS})")
        _sacctmgr("modify", "qos", DEFAULT_QOS, "set", f"flags={QOS_FLAGS}")
    for user in sorted(set(state.members) - set(members) - {ROOT}):
        log(f"accounting: removing user {user} (not a site account)")
        _sacctmgr("delete", "user", f"name={user}", f"cluster={cluster}")
    for name in sorted(set(state.projects) - set(wanted)):
        log(f"accounting: removing project {name} (not in the profile)")
        _sacctmgr("delete", "account", f"name={name}", f"cluster={cluster}")
    for name, limits in wanted.items():
        description = profile.project(name).description
        if name not in state.projects:
            log(f"accounting: adding project {name}")
            _sacctmgr("add", "account", name, f"cluster={cluster}", f"description={description}",
                      f"organization={site_slug(profile)}")  # fmt: skip
        if state.projects.get(name) != limits:
            _sacctmgr(
                "modify", "account", f"name={name}", f"cluster={cluster}", "set",
                f"GrpTRES=cpu={limits.grp_tres.removeprefix('cpu=') or -1}",
                f"MaxWall={limits.max_wall or -1}",
            )  # fmt: skip
    for user, projects in members.items():
        have = state.members.get(user, set())
        for project in [p for p in projects if p not in have]:
            log(f"accounting: adding user {user} to project {project}")
            _sacctmgr("add", "user", user, f"account={project}", f"cluster={cluster}",
                      f"defaultaccount={projects[0]}")  # fmt: skip
        if state.default_projects.get(user, projects[0]) != projects[0]:
            _sacctmgr("modify", "user", f"name={user}", "set", f"defaultaccount={projects[0]}")
        # After the default moved: sacctmgr refuses to remove a user from their default project.
        for project in sorted(have - set(projects)):
            log(f"accounting: removing user {user} from project {project}")
            _sacctmgr("delete", "user", f"name={user}", f"account={project}", f"cluster={cluster}")
    left = accounting_drift(profile, accounting_state(profile))
    if left:
        raise ReferenceSiteError("the accounting database does not match the profile: " + "; ".join(left))
