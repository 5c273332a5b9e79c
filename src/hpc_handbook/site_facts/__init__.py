"""The site vocabulary: every name and value the handbook may state about the site, derived once.

It is built from the profile (what the centre declares) and, where it belongs to the same
site, the committed snapshot (what the probe found). The book renders facts from it, the
doc CI injects its parameters into examples, the prose check holds the pages against its
names, the drift check asks it which pages show a component, and the reference site builds
its spawn form from its places. It never imports Sphinx.
"""

from __future__ import annotations

from hpc_handbook.site_facts.facts import Fact, FactAbsent, UnknownFact, fact_keys_help, look_up
from hpc_handbook.site_facts.parameters import OPTIONAL_PARAMETERS, site_parameters
from hpc_handbook.site_facts.vocabulary import (
    SpawnPlace,
    Vocabulary,
    build_vocabulary,
    spawn_places,
)

__all__ = [
    "OPTIONAL_PARAMETERS",
    "Fact",
    "FactAbsent",
    "SpawnPlace",
    "UnknownFact",
    "Vocabulary",
    "build_vocabulary",
    "fact_keys_help",
    "look_up",
    "site_parameters",
    "spawn_places",
]
