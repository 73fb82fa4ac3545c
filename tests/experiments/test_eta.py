"""experiments.eta: stage-time model, longest-first makespan, and the time left as points finish."""
import json

import pytest

from experiments import eta


def table(*rows):
    return {"networks": [{"layers": [], "synapses": n, "rtl_samples": 2, "seconds": s} for n, s in rows]}


def test_makespan_hands_out_the_longest_points_first():
    assert eta.makespan([2, 3, 2, 3, 2], 2) == 7  # 3|3, then 2 on each, the last 2 on either: 3+2+2
    assert eta.makespan([2, 3, 2, 3, 2], 1) == 12
    assert eta.makespan([1, 1], 2, busy=[5]) == 5  # both short points go to the idle worker
    assert eta.makespan([4], 2, busy=[1, 3]) == 5
    assert eta.makespan([], 3) == 0


def test_model_interpolates_the_table_in_synapses_and_scales_rtl_by_samples():
    t = table((1000, {"compress osbc": [10, 0, 0, 1], "rtl": [2, 4, 0, 1]}), (3000, {"compress osbc": [30, 0, 0, 1], "rtl": [4, 8, 0, 1]}))
    at = lambda n, stage, samples=2, d=0.5: eta.Model(n, samples, t).seconds(stage, "osbc", d)
    assert at(2000, "compress") == pytest.approx(20)
    assert at(5000, "compress") == pytest.approx(50)  # beyond the largest: the last segment's slope
    assert at(100, "compress") == pytest.approx(10)  # never below the fastest recorded
    assert at(1000, "rtl", samples=4, d=0.25) == pytest.approx(2 * (2 + 4 * 0.25))
    assert at(1000, "accuracy") is None and eta.Model(None, 2, t).seconds("compress", "osbc", 0.5) is None


def test_stage_times_are_lines_in_density_fitted_on_finished_points():
    # build: 10 s + 40 s x density, measured at three densities (exactly on the line)
    recs = [{"method": "osbc", "sparsity": s, "seconds": {"build icebreaker": 10 + 40 * (1 - s)}} for s in (0.0, 0.9, 0.99)]
    assert eta.measured(recs)["build icebreaker"] == pytest.approx((10, 40, 0.01, 1.0))
    model = eta.Model(1000, 1, table())
    model.learn(recs)
    assert model.seconds("build icebreaker", "rtn", 1.0) == pytest.approx(50)  # the dense baseline: longest
    assert model.seconds("build icebreaker", "osbc", 0.0) == pytest.approx(10 + 40 * 0.01)  # held at the ends
    # one density only: its median, whatever the density asked for
    assert eta.measured(recs[:1] * 2 + [{**recs[0], "seconds": {"build icebreaker": 0.0}}])["build icebreaker"] == \
        (50, 0, 1.0, 1.0)
    # a slope below 0 (times measured while the machine got busier) gives way to the median
    noisy = [{"method": "osbc", "sparsity": s, "seconds": {"compress": t}} for s, t in ((0.5, 2.0), (0.9, 9.0), (0.99, 4.0))]
    assert eta.measured(noisy)["compress osbc"] == pytest.approx((4.0, 0.0, 0.01, 0.5))


def test_finished_points_scale_the_table_line_to_this_machine():
    model = eta.Model(1000, 1, table((1000, {"build icebreaker": [10, 40, 0, 1]})))
    model.learn([{"method": "rtn", "sparsity": 0.0, "seconds": {"build icebreaker": 100.0}}])  # table: 50 s
    assert model.seconds("build icebreaker", "osbc", 0.1) == pytest.approx((10 + 40 * 0.1) * 2)
    # a point the fit check refused never built: its time says nothing of a build's
    model.learn([{"method": "rtn", "sparsity": 0.0, "seconds": {"build icebreaker": 0.1},
                  "boards": {"icebreaker": {"fits": False}}}])
    assert model.seconds("build icebreaker", "osbc", 0.1) == pytest.approx(14)


def test_finished_points_of_one_method_leave_the_others_to_the_table_and_unknown_boards_borrow():
    t = table((1000, {"compress osbc": [10, 0, 0, 1], "compress magnitude": [2, 0, 0, 1], "build icebreaker": [20, 0, 0, 1],
                      "build ulx3s-25f": [40, 0, 0, 1]}))
    model = eta.Model(1000, 1, t)
    assert model.seconds("build tinyfpga-bx", "osbc", 0.5) == pytest.approx(30)  # median of the known builds
    model.learn([{"method": "osbc", "sparsity": 0.9, "seconds": {"compress": c}} for c in (7.0, 9.0, 50.0)])
    assert model.seconds("compress", "osbc", 0.1) == 9.0
    assert model.seconds("compress", "magnitude", 0.1) == 2  # no magnitude point finished yet: the table
    assert model.point(["compress", "build icebreaker"], "osbc", 0.1) == pytest.approx(29)
    assert model.point(["compress", "accuracy"], "osbc", 0.1) is None


def test_remaining_counts_what_running_points_did_and_learns_from_finished_ones():
    now = [0.0]
    model = eta.Model(1000, 1, table((1000, {"compress osbc": [10, 0, 0, 1]})))
    points = {k: (["compress"], "osbc", 0.1) for k in "abc"}
    left = eta.Remaining(model, points, 2, {}, clock=lambda: now[0])
    assert left.seconds() == 20  # a|b, then c
    left.start("a")
    left.start("b")
    now[0] = 4.0
    assert left.seconds() == 16  # 6 s left of a and b, then c
    left.finish("a", {"method": "osbc", "sparsity": 0.9, "seconds": {"compress": 30.0}})  # slower than the table said
    assert left.seconds() == 30  # b: 30 - 4; c: 30 on the freed worker
    left.finish("b", None)  # a failure teaches nothing
    assert left.seconds() == 30 and model.seconds("compress", "osbc", 0.1) == 30
    assert "about 30 s on 2 worker(s)" in left.forecast() and "1 finished point" in left.forecast()


def test_remaining_reuses_each_points_cost_until_a_finished_point_refines_the_stage_times(monkeypatch):
    now = [0.0]
    model = eta.Model(1000, 1, table((1000, {"compress osbc": [10, 0, 0, 1], "rtl": [1, 40, 0, 1]})))
    left = eta.Remaining(model, {k: (["compress", "rtl"], "osbc", d) for k, d in zip("abcd", (0.1, 0.5, 0.9, 1.0))}, 2, {},
                         clock=lambda: now[0])
    asked = []
    point = model.point
    monkeypatch.setattr(model, "point", lambda *a: asked.append(a) or point(*a))

    def from_scratch():
        again = eta.Remaining(eta.Model(1000, 1, model.table), left.points, 2, left.records, clock=lambda: now[0])
        again.started, again.most_running = dict(left.started), left.most_running
        return again.seconds()

    slow = {"method": "osbc", "sparsity": 0.9, "seconds": {"compress": 30.0}}
    fast = {"method": "osbc", "sparsity": 0.1, "seconds": {"rtl": 2.0}}
    events = [("start", "a"), ("start", "b"), ("finish", "a", slow), ("start", "c"), ("finish", "b", None),
              ("start", "d"), ("finish", "c", fast)]
    for event in events:
        now[0] += 3
        getattr(left, event[0])(*event[1:])
        for _ in range(3):  # stage events of the running points: the estimate is asked again
            assert left.seconds() == pytest.approx(from_scratch())
    # 4 points priced at first, the 3 left after a's time and the 1 after c's: none for a stage event or a failure
    assert len(asked) == 4 + 3 + 1


def test_remaining_without_a_time_for_some_stage_says_so():
    left = eta.Remaining(eta.Model(1000, 1, table((1000, {"compress osbc": [10, 0, 0, 1]}))), {"a": (["rtl"], "osbc", 0.1)}, 1, {})
    assert left.seconds() is None and "after the first point" in left.forecast()
    assert eta.Remaining(eta.Model(1000, 1, table()), {}, 1, {}).forecast() == "nothing to run"


def test_the_recorded_table_is_usable_for_the_bundled_networks():
    rows = json.loads(eta.TABLE.read_text())["networks"]
    assert {tuple(r["layers"]) for r in rows} >= {(64, 128, 10)}
    for r in rows:
        assert r["synapses"] == sum(a * b for a, b in zip(r["layers"], r["layers"][1:]))
        model = eta.Model(r["synapses"], 1)
        assert model.point(["compress", "accuracy", "rtl", "build icebreaker"], "osbc", 0.1) > 0
