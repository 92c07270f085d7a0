"""Per-state verdicts: the sentence, the interval and the colour follow the bootstrap numbers."""
import pytest

from kgml_core import verdict


def _metrics(diff, lo, hi, rmse=0.5):
    return {"bootstrap": {"IA": {"RH": {"state_specific_vs_global": {"diff": diff, "lo": lo, "hi": hi,
                                                                      "rel_diff": diff / rmse}}}},
            "states": {"IA": {"global": {"RH": {"rmse": rmse, "r2": 0.6}},
                              "process_model": {"RH": {"rmse": 0.4, "r2": 0.8}}}}}


@pytest.mark.parametrize("diff,lo,hi,level", [(-0.03, -0.04, -0.025, "better"), (-0.005, -0.008, -0.002,
                                              "slightly_better"), (-0.01, -0.03, 0.01, "no_difference"),
                                              (0.05, 0.03, 0.07, "worse"), (0.005, 0.002, 0.008, "slightly_worse")])
def test_levels_follow_the_interval(diff, lo, hi, level):
    (v,) = verdict.state_verdicts(_metrics(diff, lo, hi))
    assert v.level == level and v.colour == verdict.LEVEL_COLOURS[level]


def test_sentence_reads_plainly_with_its_interval():
    (v,) = verdict.state_verdicts(_metrics(-0.03, -0.04, -0.025))
    assert v.pct == pytest.approx(-6.0) and (v.lo_pct, v.hi_pct) == (pytest.approx(-8.0), pytest.approx(-5.0))
    assert v.sentence == ("In Iowa the state-specific model's Rh error is 6.0 % lower than the global model's "
                          "(95 % interval 5.0 to 8.0 % lower): a real improvement.")
    (u,) = verdict.state_verdicts(_metrics(0.01, -0.01, 0.03))
    assert "95 % interval -2.0 % to +6.0 %" in u.sentence and u.sentence.endswith("no clear difference.")
    (same,) = verdict.state_verdicts(_metrics(1e-6, -1e-5, 1e-5))        # a state estimate declined: the global one
    assert same.sentence == ("In Iowa the state-specific model's Rh error is the same as the global model's "
                             "(to 0.1 %, 95 % interval included): no clear difference.")
    (near,) = verdict.state_verdicts(_metrics(0.01, -0.00001, 0.03))
    assert "-0.0 %" not in near.sentence and "95 % interval +0.0 % to +6.0 %" in near.sentence


def test_without_the_comparison_there_is_no_verdict():
    assert verdict.state_verdicts({"bootstrap": {"IA": {"RH": {}}}}) == []
    assert verdict.state_verdicts({}) == []


def test_explanation_quotes_the_runs_r2_and_has_a_place_for_the_ceiling():
    metrics = _metrics(-0.03, -0.04, -0.025)
    lines = verdict.process_model_explanation(metrics, {"heterogeneity": 1.0})
    assert "heterogeneity 1" in lines[0] and "Rh R² is 0.80 across the states, against 0.60" in lines[1]
    assert verdict.achievable_ceiling(metrics) is None
    metrics["states"]["IA"]["oracle_process_model"] = {"RH": {"r2": 0.97}}
    assert "R² 0.97" in verdict.process_model_explanation(metrics)[-1]
    metrics["states"]["IA"]["oracle_global"] = {"RH": {"r2": 0.61}}
    metrics["states"]["IA"]["oracle_state"] = {"RH": {"r2": 0.95}}
    sentence = verdict.achievable_ceiling(metrics)
    assert "R² 0.95:" in sentence and "state-mean" in sentence and "0.61" not in sentence
