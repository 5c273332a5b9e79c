"""Site facts by key: what a page's `{site}` role prints, with where it came from.

A key is a few words: a site parameter's name (`batch_partition`, the names an example's
parameters cell uses), or a kind followed by what to pick and which attribute:

    partition role:batch max_walltime      kernel role:python display_name
    module gcc                             filesystem scratch path
    jupyter extensions                     spawn default_place
    environment previous label             environment own path
    examples count novice                  doc_ci token_scopes

`look_up` returns a `Fact`, raises `FactAbsent` for a fact of a kind this site does not have
(a partition with GPUs at a site without one: the page says so instead of failing), and
`UnknownFact` for a name the site does not have at all, which fails a strict build.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpc_handbook.profile import KERNEL_ROLES, Partition
from hpc_handbook.site_facts.errors import FactAbsent, UnknownFact, choices_text
from hpc_handbook.site_facts.parameters import OPTIONAL_PARAMETERS, site_parameters
from hpc_handbook.site_facts.projects import project_fact
from hpc_handbook.site_facts.vocabulary import Vocabulary


@dataclass(frozen=True)
class Fact:
    key: str
    value: str
    #: Where the value was read: "profile", "snapshot" or "examples".
    source: str
    #: What it depends on, as `kind:name` (`partition:batch`, `module:gcc`, `hub`, `jupyter`):
    #: the drift check names the pages that show a component by these.
    components: tuple[str, ...] = ()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "none"
    return str(value)


_choices = choices_text


# --- Partitions ----------------------------------------------------------------------------

PARTITION_ATTRIBUTES: dict[str, Callable[[Partition], Any]] = {
    "name": lambda p: p.name,
    "purpose": lambda p: p.purpose,
    "max_walltime": lambda p: p.limits.max_walltime,
    "max_nodes": lambda p: p.limits.max_nodes,
    "memory_per_node_gb": lambda p: p.limits.memory_per_node_gb,
    "gpus_per_node": lambda p: p.limits.gpus_per_node,
    "node_count": lambda p: p.node_setup.count,
    "nodes": lambda p: p.node_setup.names,
    "cpus_per_node": lambda p: p.node_setup.cpus,
    "features": lambda p: p.node_setup.features,
    "feature": lambda p: p.node_setup.features[0] if p.node_setup.features else None,
}
PARTITION_ROLES = ("batch", "interactive", "gpu")


def _partition(vocabulary: Vocabulary, selector: str) -> Partition:
    if selector.startswith("role:"):
        role = selector.removeprefix("role:")
        if role not in PARTITION_ROLES:
            raise UnknownFact(f"partition role {role!r}: expected one of {', '.join(PARTITION_ROLES)}")
        found = vocabulary.partition_role(role)
        if found is None:
            raise FactAbsent(f"this site has no {role} partition")
        return found
    if selector not in vocabulary.partitions:
        raise UnknownFact(_choices(f"no partition {selector!r}", vocabulary.partitions))
    return vocabulary.partitions[selector]


def _partition_fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
    if not words:
        raise UnknownFact("`partition` needs a name or role:batch, role:interactive, role:gpu")
    partition = _partition(vocabulary, words[0])
    attribute = words[1] if len(words) > 1 else "name"
    if attribute not in PARTITION_ATTRIBUTES:
        raise UnknownFact(_choices(f"partitions have no {attribute!r}", PARTITION_ATTRIBUTES))
    value = PARTITION_ATTRIBUTES[attribute](partition)
    if value is None:
        raise FactAbsent(f"the {partition.name} partition's nodes have no {attribute}")
    return value, (f"partition:{partition.name}",)


# --- Kernels, modules, filesystems -----------------------------------------------------------

KERNEL_ATTRIBUTES = (
    "name",
    "display_name",
    "language",
    "purpose",
    "partition",
    "walltime",
    "gpus",
    "modules",
)


def _kernel_fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
    if not words:
        raise UnknownFact("`kernel` needs a name or a role such as role:python")
    profile, selector = vocabulary.profile, words[0]
    if selector.startswith("role:"):
        role = selector.removeprefix("role:")
        if role not in KERNEL_ROLES:
            raise UnknownFact(f"kernel role {role!r}: expected one of {', '.join(KERNEL_ROLES)}")
        kernel = profile.kernel_roles.get(role)
        if kernel is None:
            raise FactAbsent(f"this site has no kernel for {selector}")
    elif selector in {k.name for k in profile.kernels}:
        kernel = profile.kernel(selector)
    else:
        raise UnknownFact(_choices(f"no kernel {selector!r}", (k.name for k in profile.kernels)))
    attribute = words[1] if len(words) > 1 else "name"
    if attribute not in KERNEL_ATTRIBUTES:
        raise UnknownFact(_choices(f"kernels have no {attribute!r}", KERNEL_ATTRIBUTES))
    value = getattr(kernel, attribute)
    if value in (None, []):
        raise FactAbsent(f"the {kernel.display_name} kernel has no {attribute}")
    return value, (f"kernel:{kernel.name}",)


def _module_fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
    if not words:
        raise UnknownFact("`module` needs a module's name, such as `module gcc`")
    family = words[0].partition("/")[0]
    default = vocabulary.default_module(family)
    if default is None:
        raise UnknownFact(_choices(f"no module {family!r}", vocabulary.modules))
    attribute = words[1] if len(words) > 1 else "name"
    if attribute == "name":
        return default, (f"module:{family}",)
    if attribute == "version":
        return default.partition("/")[2], (f"module:{family}",)
    if attribute == "versions":
        return sorted(vocabulary.modules[family]), (f"module:{family}",)
    raise UnknownFact(f"modules have name, version and versions, not {attribute!r}")


def _filesystem_fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
    filesystems = {f.name: f for f in vocabulary.profile.filesystems}
    if not words or words[0] not in filesystems:
        raise UnknownFact(_choices(f"no filesystem {' '.join(words[:1])!r}", filesystems))
    attribute = words[1] if len(words) > 1 else "path"
    if attribute not in ("path", "quota", "purpose"):
        raise UnknownFact(f"filesystems have path, quota and purpose, not {attribute!r}")
    return getattr(filesystems[words[0]], attribute), ()


# --- The users' environment, the hub, the examples -----------------------------------------


def _jupyter_fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
    snapshot = vocabulary.snapshot
    attribute = " ".join(words)
    if attribute == "extensions":
        return vocabulary.extensions, ("jupyter",)
    if attribute == "proxy_apps":
        return vocabulary.proxy_apps, ("jupyter",)
    if attribute == "users_can_install_extensions":
        return vocabulary.profile.jupyter.users_can_install_extensions, ()
    if attribute == "idle_policy":
        minutes = vocabulary.profile.jupyter.idle_timeout_minutes
        if minutes is None:
            return "A server nobody uses keeps running until you stop it or its time is up.", ()
        return f"A server nobody uses for {minutes} minutes is stopped, wherever it runs.", ()
    if attribute == "idle_timeout_minutes":
        if vocabulary.profile.jupyter.idle_timeout_minutes is None:
            raise FactAbsent("this site stops no idle server")
        return vocabulary.profile.jupyter.idle_timeout_minutes, ()
    if attribute in ("lab_version", "server_version"):
        package = "jupyterlab" if attribute == "lab_version" else "jupyter_server"
        if not vocabulary.probed_jupyter or snapshot is None or package not in snapshot.jupyter.packages:
            raise FactAbsent("not probed from users' servers at this site yet")
        return snapshot.jupyter.packages[package], ("jupyter",)
    raise UnknownFact(
        "`jupyter` takes extensions, proxy_apps, users_can_install_extensions, idle_timeout_minutes, "
        "idle_policy, lab_version or server_version"
    )


_ENVIRONMENT_ATTRIBUTES = ("name", "label", "jupyterlab", "extensions", "retires")


def _environment_fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
    """`environment default label`, `environment previous jupyterlab`, `environment own script`."""
    jupyter = vocabulary.profile.jupyter
    selector, attribute = [*words, "", ""][:2]
    if selector == "own":
        own = jupyter.own_environment
        if attribute not in ("script", "path"):
            raise UnknownFact("`environment own` takes script or path")
        if own is None:
            raise FactAbsent("this site offers no server from a user's own start-up script")
        return (own.script if attribute == "script" else f"~/{own.script}"), ("hub",)
    offered = {e.name: e for e in jupyter.offered}
    if selector == "default":
        environment = jupyter.default_environment
    elif selector == "previous":
        if len(jupyter.offered) < 2:
            raise FactAbsent("this site offers one JupyterLab environment")
        environment = jupyter.offered[1]
    elif selector in offered:
        environment = offered[selector]
    else:
        raise UnknownFact(_choices(f"no environment {selector!r} (nor default, previous, own)", offered))
    if attribute not in _ENVIRONMENT_ATTRIBUTES:
        raise UnknownFact(f"environments have {', '.join(_ENVIRONMENT_ATTRIBUTES)}, not {attribute!r}")
    value = getattr(environment, attribute)
    if value is None:
        raise FactAbsent(f"the environment {environment.name} has no {attribute}")
    return value, ("hub",)


def _hub_fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
    hub = vocabulary.snapshot.hub if vocabulary.snapshot is not None else None
    attribute = " ".join(words)
    if attribute not in ("version", "spawner", "spawner_version"):
        raise UnknownFact("`hub` takes version, spawner or spawner_version")
    value = getattr(hub, attribute) if hub is not None else None
    if value is None:
        raise FactAbsent("the hub has not been probed at this site yet")
    return value, ("hub",)


def _spawn_fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
    attribute = " ".join(words)
    hub = vocabulary.snapshot.hub if vocabulary.snapshot is not None else None
    probed = hub is not None and bool(hub.form_places)
    if attribute == "default_place":
        return (hub.form_places[0].label if hub and probed else vocabulary.places[0].label), ("hub",)
    if attribute == "places":
        labels = (
            [p.label for p in hub.form_places] if hub and probed else [p.label for p in vocabulary.places]
        )
        return labels, ("hub",)
    if attribute == "fields":
        if hub is None or not hub.form_fields:
            raise FactAbsent("the spawn form has not been probed at this site yet")
        return hub.form_fields, ("hub",)
    raise UnknownFact("`spawn` takes default_place, places or fields")


def _examples_fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
    audiences = vocabulary.example_audiences
    if not words or words[0] != "count":
        raise UnknownFact("`examples` takes `count`, optionally followed by novice, expert or admin")
    if len(words) == 1:
        return len(audiences), ()
    return sum(1 for a in audiences.values() if a == words[1]), ()


def _doc_ci_fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
    attribute = " ".join(words)
    if attribute == "token_scopes":
        hub = vocabulary.snapshot.hub if vocabulary.snapshot is not None else None
        if hub is None or not hub.doc_ci_scopes:
            raise FactAbsent("the doc CI's token has not been probed at this site")
        return hub.doc_ci_scopes, ("hub",)
    if attribute == "dispatch_partition":
        partition = vocabulary.profile.doc_ci.dispatch_partition
        if partition is None:
            raise FactAbsent("this site sets no partition for the doc CI's dispatch")
        return partition, (f"partition:{partition}",)
    raise UnknownFact("`doc_ci` takes token_scopes or dispatch_partition")


def _section_fact(section: str) -> Callable[[Vocabulary, list[str]], tuple[Any, tuple[str, ...]]]:
    def fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
        model = getattr(vocabulary.profile, section)
        fields = type(model).model_fields
        if len(words) != 1 or words[0] not in fields:
            raise UnknownFact(_choices(f"`{section}` takes one of its fields", fields))
        return getattr(model, words[0]), ()

    return fact


KINDS: dict[str, Callable[[Vocabulary, list[str]], tuple[Any, tuple[str, ...]]]] = {
    "partition": _partition_fact,
    "kernel": _kernel_fact,
    "module": _module_fact,
    "filesystem": _filesystem_fact,
    "jupyter": _jupyter_fact,
    "hub": _hub_fact,
    "environment": _environment_fact,
    "spawn": _spawn_fact,
    "examples": _examples_fact,
    "doc_ci": _doc_ci_fact,
    "project": project_fact,
    "site": _section_fact("site"),
    "support": _section_fact("support"),
}
_SOURCES = {"jupyter": "snapshot", "hub": "snapshot", "spawn": "snapshot", "examples": "examples"}
#: Site parameters that name a component, for the drift check.
_PARAMETER_PARTITIONS = {
    "batch_partition": "batch",
    "batch_max_walltime": "batch",
    "batch_nodes": "batch",
    "batch_node_count": "batch",
    "batch_node_feature": "batch",
    "interactive_partition": "interactive",
    "interactive_max_walltime": "interactive",
    "gpu_partition": "gpu",
    "gpus_per_node": "gpu",
}


def _parameter_fact(vocabulary: Vocabulary, name: str) -> Fact:
    values = site_parameters(vocabulary.profile)
    if name not in values:
        raise FactAbsent(f"this site has no value for {name}")
    role = _PARAMETER_PARTITIONS.get(name)
    partition = vocabulary.partition_role(role) if role else None
    components = (f"partition:{partition.name}",) if partition is not None else ()
    if name.endswith("_kernel") and isinstance(values[name], str):
        components = (f"kernel:{values[name]}",)
    return Fact(key=name, value=_text(values[name]), source="profile", components=components)


def look_up(vocabulary: Vocabulary, key: str) -> Fact:
    """The fact a key names; FactAbsent or UnknownFact say why there is none."""
    words = key.split()
    if not words:
        raise UnknownFact("an empty key")
    if len(words) == 1 and (
        words[0] in OPTIONAL_PARAMETERS or words[0] in site_parameters(vocabulary.profile)
    ):
        return _parameter_fact(vocabulary, words[0])
    kind = KINDS.get(words[0])
    if kind is None:
        raise UnknownFact(
            f"{words[0]!r} is neither a site parameter nor a kind of fact "
            f"({', '.join(KINDS)}); see CONTRIBUTING's 'Write a site fact'"
        )
    value, components = kind(vocabulary, words[1:])
    return Fact(key=key, value=_text(value), source=_SOURCES.get(words[0], "profile"), components=components)


def fact_keys_help() -> str:
    """One line per kind of fact, for error messages and the contributors' reference."""
    return (
        "site parameters (batch_partition, gpu_partition, ...); "
        f"partition NAME|role:batch|role:interactive|role:gpu [{'|'.join(PARTITION_ATTRIBUTES)}]; "
        f"kernel NAME|role:ROLE [{'|'.join(KERNEL_ATTRIBUTES)}]; module NAME [version|versions]; "
        "filesystem NAME [path|quota|purpose]; jupyter extensions|proxy_apps|lab_version|server_version; "
        "hub version|spawner; spawn default_place|places|fields; examples count [AUDIENCE]; "
        "doc_ci token_scopes|dispatch_partition; project names|NAME|limited ATTRIBUTE; "
        "site FIELD; support FIELD"
    )
