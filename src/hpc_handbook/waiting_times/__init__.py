"""Queue waiting times from Slurm's own records (`stats`), a job mix that gives a new site a history
(`job_mix`), and `hpc-handbook waiting-times` (`command`).
"""
