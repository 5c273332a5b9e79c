"""The probe: record what the site really offers in one deterministic snapshot.

The snapshot (`book/data/snapshot.json`) lists every site kernelspec with the versions its
own environment reports, the Lmod modules, the Slurm partitions and their nodes, the hub
and the users' Jupyter environment as their own servers report it. The system status page,
the drift check and the changelog of system changes all read it. Only the top-level `taken`
date varies between two probes of an unchanged site, so it is left out of every comparison.
Its model, and how it is read and written, is `hpc_handbook.data.snapshot`; what changed
between two is `hpc_handbook.changes`.

One module per part of the site: `kernels`, `modules` (Lmod), `partitions` (Slurm), `hub`
(the hub and its spawn form), `users_server` and `jupyter` (the users' Jupyter environment),
each with one `probe_<part>` function; `snapshot` assembles them and `command` is the command
line. Nothing here imports the reference site: the probe runs on real sites too.
"""
