"""`hpc-handbook site`: the reference site, a real local HPC site built from the site profile.

The handbook's examples are verified against this site, and a centre can stand up a
replica of its own profile with it. It is never a mock: Slurm (munged, slurmctld,
slurmd) schedules real jobs, Lmod loads real modulefiles that change the environment,
and the kernelspecs start real Jupyter kernels, some inside Slurm jobs.

One module per part: `paths` (where the site lives), `system` (commands, files,
processes), `slurm_conf` (its configuration, from the profile), `slurm` and `slurm_nodes`
(its daemons and nodes), `slurm_jobs`, `lmod`, `kernels`, `users` (the accounts),
`hub` and `spawn_options` (JupyterHub and its spawn form), `server_environment` (the
users' JupyterLab), `lifecycle` (`up`, `down`, `reset`), `checks` (`site status` and the
smoke tests), `service_bench` (spawn and first-kernel times) and `command`.
The pure generators (profile in, text out) are unit-tested with any profile;
everything else changes the machine.
Tools outside the reference site never import it: they work on real sites too; only
command modules (`doc_ci.ui.command`) reach it.
"""
