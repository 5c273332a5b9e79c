"""Reading squeue's output: every tool finds its jobs through one parser."""

from __future__ import annotations

from hpc_handbook.slurm import SlurmJob, parse_squeue


def test_squeue_lines_become_jobs_and_other_lines_are_skipped() -> None:
    text = (
        "12\tjupyter-kernel-python3-ab12\thandbook-ci:42-0011aabb\tRUNNING\tbatch\tdocci\t/tmp/work\n"
        "13\tsleep\t(null)\tPENDING\tinteractive\talice\t/home/alice\n"
        "squeue: error: something else entirely\n"
    )
    first, second = parse_squeue(text)
    assert first == SlurmJob(
        job_id="12",
        name="jupyter-kernel-python3-ab12",
        comment="handbook-ci:42-0011aabb",
        state="RUNNING",
        partition="batch",
        user="docci",
        workdir="/tmp/work",
    )
    assert first.is_kernel and not second.is_kernel
    assert (second.comment, second.workdir) == ("(null)", "/home/alice")
    assert len(parse_squeue(text)) == 2
