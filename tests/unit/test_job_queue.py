"""The hub's view of Slurm's jobs: one squeue for every spawner, never older than the job asked about."""

from __future__ import annotations

import asyncio

from hpc_handbook.reference_site.job_queue import SLURM_UNREACHABLE, SQUEUE_ALL, JobQueue, parse_queue


class Slurm:
    """squeue's answers in turn, as (exit status, output); the commands asked are kept."""

    def __init__(self, *answers: tuple[int | None, str]) -> None:
        self.answers, self.commands = list(answers), []

    async def __call__(self, command: tuple[str, ...]) -> tuple[int | None, str]:
        self.commands.append(command)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_squeues_lines_become_what_batchspawner_reads_for_one_job() -> None:
    assert parse_queue("12 RUNNING rcc-cpu01\n13 PENDING n/a\n\n") == {
        "12": "RUNNING rcc-cpu01",
        "13": "PENDING n/a",
    }


def test_every_spawner_within_the_interval_shares_one_squeue() -> None:
    slurm, clock = Slurm((0, "12 RUNNING rcc-cpu01\n13 PENDING n/a\n")), Clock()
    queue = JobQueue(slurm, ttl_s=0.5, clock=clock)

    async def polls() -> list[str]:
        return list(await asyncio.gather(*(queue.status(job) for job in ("12", "13", "12", "13"))))

    assert asyncio.run(polls()) == ["RUNNING rcc-cpu01", "PENDING n/a"] * 2
    assert slurm.commands == [SQUEUE_ALL] and queue.asked == 1
    clock.now += 0.6
    assert asyncio.run(queue.status("12")) == "RUNNING rcc-cpu01" and queue.asked == 2


def test_a_job_submitted_after_the_last_answer_is_asked_about_again_not_called_gone() -> None:
    slurm, clock = (
        Slurm((0, "12 RUNNING rcc-cpu01\n"), (0, "12 RUNNING rcc-cpu01\n14 PENDING n/a\n")),
        Clock(),
    )
    queue = JobQueue(slurm, ttl_s=0.5, clock=clock)
    assert asyncio.run(queue.status("12")) == "RUNNING rcc-cpu01"
    clock.now += 0.1  # job 14 was submitted meanwhile; the cached answer does not list it
    assert asyncio.run(queue.status("14")) == "PENDING n/a" and queue.asked == 2
    # A job Slurm no longer lists, in an answer newer than the question, is gone.
    clock.now += 0.1
    assert asyncio.run(queue.status("11")) == "" and queue.asked == 3


def test_slurm_not_answering_reads_as_unknown_with_its_words_not_as_every_job_gone() -> None:
    clock = Clock()
    refused = JobQueue(Slurm((1, "squeue: error: Invalid user\n")), clock=clock)
    assert asyncio.run(refused.status("12")) == f"{SLURM_UNREACHABLE} (squeue: error: Invalid user)"
    silent = JobQueue(Slurm((None, "")), clock=clock)
    assert asyncio.run(silent.status("12")) == f"{SLURM_UNREACHABLE} (squeue did not answer)"
    timed_out = "slurm_load_jobs error: Socket timed out on send/recv operation"
    assert asyncio.run(JobQueue(Slurm((1, timed_out)), clock=clock).status("12")) == timed_out
