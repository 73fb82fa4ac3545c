"""Run independent jobs on Dask (dask.distributed), or one after another in this process.

A job is a picklable top-level function and its arguments; it gets a `stage(name)` callback to
say what it is doing, and returns its result to this process, which alone writes files. Dask
reruns the job of a worker that dies on another worker; since nothing is recorded until a result
arrives here, a lost job is neither lost nor recorded twice.

    workers=0, scheduler=None  ->  in this process, in order (no Dask needed)
    workers=N, scheduler=None  ->  a LocalCluster of N processes with one thread each
    scheduler="tcp://host:8786" ->  that cluster's workers (docs/sweep.md)
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import signal
import threading
from dataclasses import dataclass, field
from typing import Callable

STAGE_TOPIC = "osbc-stage"  # worker -> client events: (job name, stage)
# Hand a worker its next job only when it has finished the last: Dask's default (1.1) lets each
# one-thread worker hold a second job in its own queue, so near the end of a run a worker can sit
# idle while a long job waits behind another on its neighbour, and the longest-first order is lost.
SCHEDULER_CONFIG = {"distributed.scheduler.worker-saturation": 1.0}


def default_workers() -> int:
    """One job per core: place and route and simulation are CPU-bound and single-threaded."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and every option's default."""


def add_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help=f"local Dask workers, one {what} each, one per core unless given; 0: in this process, no Dask")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on an existing Dask cluster instead")


def check_workers(workers: int, scheduler: str | None) -> None:
    if workers < 0:
        raise ValueError(f"--workers: must be 0 (this process) or more, got {workers}")
    if scheduler is not None or workers > 0:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ValueError("--workers/--scheduler: dask.distributed is not installed "
                             "(pip install -e '.[sweep]'), or run with --workers 0") from None


@dataclass(frozen=True)
class Job:
    name: str
    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def _worker_stage(name: str, stage: str) -> None:
    from distributed import get_worker

    get_worker().log_event(STAGE_TOPIC, (name, stage))


def _local_stage(on_stage, name: str, stage: str) -> None:
    on_stage(name, stage)


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt  # so that `with` blocks close the cluster and its workers' children


def run(jobs: list[Job], *, workers: int, scheduler: str | None, on_result: Callable, on_error: Callable,
        on_stage: Callable = lambda name, stage: None) -> None:
    """Call on_result(name, result) or on_error(name, exception) for every job as it finishes;
    the jobs start in the order given as workers free up."""
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt) if main_thread else None
    try:
        if scheduler is None and workers == 0:
            for job in jobs:
                try:
                    result = job.fn(*job.args, stage=functools.partial(_local_stage, on_stage, job.name), **job.kwargs)
                except Exception as e:  # the job's own failure: record it and go on
                    on_error(job.name, e)
                else:
                    on_result(job.name, result)
            return
        _run_dask(jobs, workers, scheduler, on_result, on_error, on_stage)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run_dask(jobs, workers, scheduler, on_result, on_error, on_stage) -> None:
    import dask
    from distributed import Client, LocalCluster, as_completed

    with dask.config.set(SCHEDULER_CONFIG):
        local = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                    dashboard_address=None, silence_logs=logging.ERROR)
    with local or contextlib.nullcontext(), Client(scheduler or local) as client:
        client.subscribe_topic(STAGE_TOPIC, lambda event: on_stage(*event[1]))
        # in the order given (the sweep's is longest first): the earlier, the higher the priority
        futures = {client.submit(job.fn, *job.args, stage=functools.partial(_worker_stage, job.name),
                                 pure=False, priority=len(jobs) - k, **job.kwargs): job.name
                   for k, job in enumerate(jobs)}
        for future in as_completed(futures):
            name = futures[future]
            if future.status == "error":
                on_error(name, future.exception())
            else:
                on_result(name, future.result())
            future.release()
