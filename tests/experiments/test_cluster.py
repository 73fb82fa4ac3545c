"""experiments.cluster: jobs start in the order given, each on the first worker that frees up."""
import sys
import time

import pytest

from experiments import cluster


def nap(seconds, *, stage):
    from distributed import get_worker

    stage("napping")
    time.sleep(seconds)
    return get_worker().address


def test_a_long_first_job_keeps_its_worker_while_the_other_takes_the_rest():
    """With Dask's default worker saturation the second worker would also be handed a job to queue
    behind the long one (and sit idle at the end); one job per worker at a time keeps the order."""
    pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests
    names = ["long", *(f"short{k}" for k in range(5))]  # 6 jobs > 2 x 2 threads: Dask queues them itself
    jobs = [cluster.Job(n, nap, (4.0 if n == "long" else 0.3,)) for n in names]
    where, started = {}, []
    cluster.run(jobs, workers=2, scheduler=None, on_result=where.__setitem__,
                on_error=lambda name, e: pytest.fail(f"{name}: {e}"), on_stage=lambda name, stage: started.append(name))
    assert sorted(where) == sorted(names)
    assert [n for n in where if where[n] == where["long"]] == ["long"]
    assert started.index("long") < 2  # it went out first, with the first short one
