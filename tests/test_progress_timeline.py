"""The overall progress of a run: planned stages weighted by their work, time left from the measured speed."""
import pytest

from kgml_core.progress import ProgressEvent, Timeline


def _event(stage, epoch, n_epochs):
    return ProgressEvent(stage, epoch, n_epochs, 0, 0)


def test_overall_fraction_and_time_left_follow_the_plan():
    tl = Timeline([("a", 1), ("b", 3), ("c_*", 1)])
    assert tl.fraction() == 0.0 or tl.fraction() is None
    tl.update(_event("a", 1, 1), now=0.0)
    tl.update(_event("b", 1, 3), now=10.0)  # a took 10 s for 1 unit of work
    assert tl.fraction() == pytest.approx((1 + 3 * 1 / 3) / 5)
    # 10 s measured for 2 units of work (a, and a third of b): 5 s per unit, 3 of 5 units left
    assert tl.seconds_left(now=20.0) == pytest.approx(5.0 * 5 * (1 - 0.4))
    assert [r["status"] for r in tl.stages()] == ["done", "running", "waiting"]
    tl.update(_event("c_1", 1, 1), now=40.0)
    tl.update(_event("c_2", 1, 1), now=50.0)  # a wildcard stage counts once per stage it matched
    assert tl._planned_total() == 6


def test_skipped_stages_do_not_hold_the_bar_back_and_no_plan_lists_stages():
    tl = Timeline([("a", 1), ("real", 5), ("upscale", 1)])
    tl.update(_event("a", 1, 1), now=0.0)
    tl.update(_event("upscale", 1, 1), now=5.0)  # "real" never ran (no real files)
    assert tl.fraction() == pytest.approx(1.0)
    free = Timeline()
    free.update(ProgressEvent("x", 1, 4, 0, 0), now=0.0)
    free.update(ProgressEvent("x", 2, 4, 0, 0), now=8.0)
    assert free.fraction() is None and free.seconds_left(now=8.0) == pytest.approx(8.0 / 0.5 * 0.5)


def test_experiments_plan_the_stages_they_report():
    from kgml_core.experiments import get
    svg = get("state_vs_global")
    plan = [p for p, _ in svg.stage_plan(svg.config("tiny"))]
    assert plan[:2] == ["global/step1", "global/step2"] and "state_IA/step5" in plan and plan[-1] == "evaluate"
    tamrl = get("tamrl")
    assert tamrl.stage_plan(tamrl.config("tiny"))[0][0] == "fold0/seed0/gbm"
