"""`hpc-handbook bench`: the runner against its peers (`peers`), over Slurm nodes (`dispatch`), and the
prose check beside a book build (`prose`).
"""
