import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from kgml_core.cli import main
from kgml_core.experiments.state_vs_global import (MODEL_NAMES, StateVsGlobalConfig, preset,
                                                   run_state_vs_global)
from kgml_core.experiments.state_vs_global.data import load_data, training_sets, without_pretraining_world
from kgml_core.features import INPUTS, PARAM_NAMES
from kgml_core.progress import CancelToken
from kgml_core.runs import RunStore
from kgml_core.stages import samples_digest
from kgml_core.training.data import make_samples

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdsa")
    events = []
    cfg = preset("tiny", states=("IL", "IA"), threads=1)
    run = run_state_vs_global(cfg, RunStore(root / "runs"), progress=events.append)
    return run, events, root


def test_tiny_run_metrics_shape(tiny_run):
    run, events, _ = tiny_run
    assert run.status == "finished"
    m = run.metrics()
    assert set(m["states"]) == {"IL", "IA"}
    for state in m["states"].values():
        assert set(state) == set(MODEL_NAMES)
        for model in state.values():
            assert set(model) == {"RA", "RH", "NEE", "RECO", "YIELD"}
            assert set(model["RH"]) == {"r2", "rmse", "mse", "mae", "bias", "n"}
            assert model["RH"]["n"] > 0
    boot = m["bootstrap"]["IL"]["RH"]["state_specific_vs_global"]
    assert boot["lo"] <= boot["hi"]
    assert m["seconds"] > 0 and set(m["regions"]["labels"])
    assert {e.stage for e in events} >= {"global/step1", "global/step5", "state_IL/step5"}
    # the global networks given the state-mean truth: a perfect estimate, scored against the global model
    ceiling = m["ceiling"]["RH"]["IL"]
    assert np.isfinite(ceiling["emulator_ceiling"]) and ceiling["emulator_state_rmse"] != ceiling["global_rmse"]
    assert "emulator_state_vs_global" in m["bootstrap"]["IL"]["RH"]
    # the towers' oracle: beside the oracle ceiling, from its own rung
    assert ceiling["towers_ceiling"] == pytest.approx(1 - ceiling["oracle_towers_rmse"] / ceiling["oracle_global_rmse"])
    assert ceiling["oracle_towers_rmse"] == m["states"]["IL"]["oracle_towers"]["RH"]["rmse"]
    assert ceiling["towers_fraction"] == pytest.approx(ceiling["realised"] / ceiling["towers_ceiling"]) \
        or not ceiling["towers_ceiling"] > 0
    assert "oracle_towers_vs_oracle_global" in m["bootstrap"]["IL"]["RH"]


def test_tiny_run_predictions_and_weights(tiny_run):
    run, _, _ = tiny_run
    ds = run.predictions()
    assert list(ds["model"].values) == ["truth", *MODEL_NAMES]
    assert ds["RH"].dims == ("model", "unit", "time") and ds["YIELD"].dims == ("model", "unit", "year")
    assert set(ds["split"].values) == {"train", "test"} and "region" in ds.coords
    assert ds.attrs["test_years"] is not None
    rh = ds["RH"].sel(model="global").values
    assert np.isfinite(rh).mean() > 0.9
    # process model with default parameters is the process world: differs from the truth
    assert not np.allclose(ds["RH"].sel(model="process_model"), ds["RH"].sel(model="truth"), equal_nan=True)
    state = run.load_weights("global")
    assert any(k.startswith("shared.") for k in state)
    assert "state_IL" in run.weight_names() and "pretrained" in run.weight_names()
    cfg = StateVsGlobalConfig.from_dict(run.config)
    assert cfg.states == ("IL", "IA") and cfg.preset == "tiny"


def test_cancel_marks_run_cancelled(tmp_path):
    token = CancelToken()
    token.cancel()
    run = run_state_vs_global(preset("tiny", states=("IL",), threads=1), RunStore(tmp_path), cancel=token)
    assert run.status == "cancelled"
    assert RunStore(tmp_path).list().loc[0, "status"] == "cancelled"


def test_bad_config_named():
    with pytest.raises(ValueError, match="test_years"):
        StateVsGlobalConfig(years=(2010, 2011), test_years=2)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
    with pytest.raises(ValueError, match="unknown state-vs-global config keys"):
        StateVsGlobalConfig.from_dict({"colour": 1})


def test_cli_writes_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("KGML_RUNS_DIR", str(tmp_path / "runs"))
    out = tmp_path / "out"
    code = main(["experiment", "state-vs-global", "--states", "IN", "--preset", "tiny",
                 "--out", str(out), "--threads", "1", "--quiet"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["states"]["IN"]) == set(MODEL_NAMES)
    assert (out / "predictions.nc").exists()


def test_heterogeneity_sweep_shape(tiny_run):
    from kgml_core.experiments.state_vs_global import heterogeneity_sweep

    run, _, _ = tiny_run
    cfg = preset("tiny", states=("IL",), threads=1)
    out = heterogeneity_sweep(cfg, [0.0], pretrained=run.load_weights("pretrained"))
    row = out["states"]["IL"]
    assert out["values"] == [0.0] and len(row["rmse_reduction"]) == 1
    assert row["rmse_reduction"][0] == pytest.approx(1 - row["state_specific_rmse"][0] / row["global_rmse"][0])


def _cancel_after(stage: str, token: CancelToken, events: list):
    """A progress callback that records events and cancels once ``stage`` has ended."""
    def callback(event):
        events.append(event)
        if event.stage == stage and event.epoch == event.n_epochs and event.step == event.n_steps:
            token.cancel()
    return callback


def test_resume_skips_completed_stages(tmp_path):
    cfg = preset("tiny", states=("IL",), threads=1)
    store = RunStore(tmp_path)
    token, first = CancelToken(), []
    run = run_state_vs_global(cfg, store, progress=_cancel_after("global/step2", token, first), cancel=token)
    assert run.status == "cancelled"
    assert run.weight_names() == ["pretrained"]          # checkpoint of the completed stage only
    assert any(e.stage == "global/step2" for e in first)
    second = []
    resumed = run_state_vs_global(cfg, store, progress=second.append, resume=run.id)
    assert resumed.id == run.id and resumed.status == "finished"
    stages = {e.stage for e in second}
    assert not stages & {"global/step1", "global/step2"}   # pretraining was not repeated
    assert {"global/step3", "global/step5", "state_IL/step5"} <= stages
    assert resumed.metrics()["resumed_stages"] == ["pretrained"]
    assert {"pretrained", "global", "state_IL", "no_knowledge"} <= set(resumed.weight_names())
    assert len(store.list()) == 1 and "resumed" in resumed.read_log()
    torch.testing.assert_close(resumed.load_weights("pretrained"), run.load_weights("pretrained"))
    with pytest.raises(ValueError, match="finished"):
        run_state_vs_global(cfg, store, resume=run.id)


def test_resume_needs_the_same_config(tmp_path):
    store = RunStore(tmp_path)
    token = CancelToken()
    token.cancel()
    run = run_state_vs_global(preset("tiny", states=("IL",), threads=1), store, cancel=token)
    with pytest.raises(ValueError, match="seed"):
        run_state_vs_global(preset("tiny", states=("IL",), seed=5), store, resume=run.id)
    with pytest.raises(KeyError):
        run_state_vs_global(preset("tiny", states=("IL",)), store, resume="20200101-000000-abcdef")


def test_config_round_trip():
    cfg = preset("quick")
    back = StateVsGlobalConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.protocol.region_groups == ("params",) and back.protocol.step2.cosine


def test_models_choose_the_rungs_of_the_ladder(tmp_path):
    cfg = preset("tiny", states=("IA",), models=("state_specific",))
    assert cfg.models == ("global", "state_specific")  # the anchor is always trained
    run = run_state_vs_global(cfg, store=RunStore(tmp_path))
    assert list(run.metrics()["states"]["IA"]) == ["global", "state_specific"]
    assert list(run.predictions()["model"].values) == ["truth", "global", "state_specific"]
    with pytest.raises(ValueError, match="unknown models \\['bogus'\\]"):
        preset("tiny", models=("bogus",))


def test_unknown_state_fails_before_a_run_exists(tmp_path):
    with pytest.raises(ValueError, match="unknown state 'ZZ'"):
        preset("tiny", states=("ZZ",))
    assert RunStore(tmp_path).list().empty
    assert preset("tiny", states=("iowa", "17")).states == ("IA", "IL")


def test_tiny_run_has_per_county_scores(tiny_run):
    run, _, _ = tiny_run
    m = run.metrics()
    held = {u for u, s in zip(run.predictions()["unit"].values, run.predictions()["split"].values) if s == "test"}
    assert set(m["counties"]["RH"]) == held
    row = next(iter(m["counties"]["RH"].values()))
    assert {"state", "global_rmse", "state_specific_rmse", "global_r2"} <= set(row) and row["global_rmse"] > 0


def test_ablation_settings_change_what_is_trained():
    base = preset("quick")
    assert base.training_protocol() == base.protocol                     # defaults: nothing changed
    plain = preset("quick", balance_loss=False).training_protocol()
    assert all(getattr(plain, s).balance == 0 for s in ("step1", "step2", "step5", "region5"))
    none = preset("quick", pretrain_world="none")
    p = none.training_protocol()
    assert (p.step1.epochs, p.step2.epochs, p.step4.epochs) == (0, 0, 0)
    assert p.step5.epochs == none.no_knowledge.epochs and p.step5.balance > 0
    assert set(p.step5_groups) == {"shared", "ra", "rh", "nee"} and p.region_groups == ("rh", "nee")
    assert StateVsGlobalConfig.from_dict(json.loads(json.dumps(none.to_dict()))).training_protocol() == p
    with pytest.raises(ValueError, match="pretrain_world"):
        preset("quick", pretrain_world="weights")


def test_pretrain_years_must_end_before_the_held_out_years():
    assert preset("quick", pretrain_years=(2002, 2013)).pretrain_years == (2002, 2013)
    with pytest.raises(ValueError, match="pretrain_years .* 2013"):
        preset("quick", pretrain_years=(2002, 2014))


def test_tiny_ablation_without_pretraining_and_longer_pretraining_run(tmp_path):
    store = RunStore(tmp_path)
    none = run_state_vs_global(preset("tiny", states=("IA",), pretrain_world="none", balance_loss=False,
                                      models=("state_specific",)), store)
    assert none.status == "finished" and "pretrained" in none.weight_names()
    assert not none.metrics()["parameters"]                         # no emulator: no parameters estimated
    longer = run_state_vs_global(preset("tiny", states=("IA",), pretrain_years=(2010, 2013),
                                        models=("state_specific",)), store)
    assert longer.status == "finished" and longer.metrics()["parameters"]["state"]["IA"]


def test_pretraining_domain_does_not_depend_on_the_modelled_states():
    from kgml_core.experiments.state_vs_global.data import pretraining_counties

    a, b = preset("quick", states=("IL",)), preset("quick", states=("IA", "MO"))
    assert pretraining_counties(a) == pretraining_counties(b)
    assert len(pretraining_counties(a)) == a.pretrain_units == 256
    assert a.pretraining_years() == (1990, 2013)                 # the window of years up to the last training year
    assert pretraining_counties(replace(a, seed=1)) != pretraining_counties(a)
    with pytest.raises(ValueError, match="pretrain_states"):
        preset("quick", pretrain_states=())


def test_tiny_run_records_the_pull_chosen_by_validation(tmp_path):
    """With two flux sites a state's pull is chosen on left-out sites and years, saved beside its parameters."""
    assert preset("quick").protocol.region5.l2sp_grid == (1e-1, 1e-2, 1e-3)
    assert preset("quick").protocol.region5.l2sp_grid_folds == preset("full").protocol.region5.l2sp_grid_folds \
        == "sites+years"
    cfg = preset("tiny", states=("IL",), sites_per_state=2, models=("state_specific",), threads=1,
                 scheduler="sequential")
    params = run_state_vs_global(cfg, RunStore(tmp_path)).metrics()["parameters"]
    pull = params["state"]["IL"]["pull"]
    assert preset("quick").protocol.region5.l2sp_grid_global
    assert pull["chosen"] in (*cfg.protocol.region5.l2sp_grid, "global") and len(pull["towers"]) == 2
    years = [f"year {y}" for y in range(cfg.years[0], cfg.years[1] + 1 - cfg.test_years)]
    assert pull["fold_names"] == pull["towers"] + years         # one fold per tower, then per training year
    assert np.array(pull["fold_loss"]).shape == (len(cfg.protocol.region5.l2sp_grid) + 1, 2 + len(years))
    assert "leave-one-year-out" in pull["rule"]
    assert "pull" not in params["global"]["all"]


def test_pretraining_samples_draw_each_countys_years_from_the_window():
    from kgml_core.experiments.state_vs_global.data import pretraining_samples
    from kgml_core.simulator import WorldConfig, simulate_world

    world = simulate_world(WorldConfig(years=(2008, 2013), counties=("17019", "19153", "18157"), world="ensemble"))
    years = list(range(2008, 2014))
    s = pretraining_samples(world, years, 2, seed=0)
    assert len(s) == 6 and set(s.year) <= set(years)
    for unit in ("17019", "19153", "18157"):                      # two distinct years per county
        assert len(set(s.year[s.unit == unit])) == 2
    assert len(set(s.year)) > 2                                   # the domain sees more years than a county
    assert len(pretraining_samples(world, years, 6, seed=0)) == 18


def test_pretraining_samples_carry_the_end_of_their_previous_year():
    from kgml_core.experiments.state_vs_global.data import pretraining_samples
    from kgml_core.simulator import WorldConfig, simulate_world
    from kgml_core.training.data import INPUTS

    world = simulate_world(WorldConfig(years=(2008, 2011), counties=("17019", "19153"), world="ensemble"))
    s = pretraining_samples(world, list(range(2008, 2012)), 2, seed=0, warmup=30)
    assert s.warm.shape == (len(s), 30, len(INPUTS))
    for i in np.flatnonzero(s.year > 2008):                       # the world's own days before 1 January
        rain = world["P"].sel(unit=s.unit[i], time=world["time.year"] == s.year[i] - 1).values[-30:]
        np.testing.assert_allclose(s.warm[i, :, INPUTS.index("P")], rain, rtol=1e-6)
    with pytest.raises(ValueError, match="warmup"):
        preset("tiny", warmup=400)


def test_warmup_default_and_runs_saved_before_it():
    assert preset("quick").warmup == 182 and preset("tiny").warmup == 30
    old = json.loads(json.dumps(preset("quick").to_dict()))
    del old["warmup"]                                               # a run saved before the warm-up existed
    assert StateVsGlobalConfig.from_dict(old).warmup == 0


def test_tiny_run_with_a_warmup(tmp_path):
    cfg = preset("tiny", states=("IA",), models=("state_specific", "emulator_oracle"), warmup=20)
    run = run_state_vs_global(cfg, RunStore(tmp_path))
    assert run.status == "finished" and run.config["warmup"] == 20
    assert np.isfinite(run.metrics()["states"]["IA"]["state_specific"]["RH"]["rmse"])


def test_pretraining_replicas_share_out_each_countys_years():
    from kgml_core.experiments.state_vs_global.data import pretraining_samples
    from kgml_core.simulator import WorldConfig, simulate_world
    from kgml_core.training.data import INPUTS

    counties = ("17019", "19153", "18157")
    cfg = WorldConfig(years=(2008, 2013), counties=counties, world="ensemble")
    one, three = simulate_world(cfg), simulate_world(replace(cfg, replicas=3))
    years = list(range(2009, 2014))
    s1, s3 = pretraining_samples(one, years, 3, seed=0), pretraining_samples(three, years, 3, seed=0)
    assert len(s3) == len(s1) == 9                                 # the same number of samples
    base = np.array([u.split("-r")[0] for u in s3.unit])
    assert sorted(zip(base, s3.year)) == sorted(zip(s1.unit, s1.year))   # and the same county-years
    assert len(set(s3.unit)) == 9                                  # each county-year under its own draw
    assert len({tuple(p) for p in s3.params}) == 9
    shared = pretraining_samples(three, years, 3, seed=0, shared_years=True)   # one year, three draws
    assert len(shared) == 9 and len({tuple(p) for p in shared.params}) == 9
    for county in counties:
        mine = np.array([u.split("-r")[0] == county for u in shared.unit])
        assert mine.sum() == 3 and len(set(shared.year[mine])) == 1
        weather = [INPUTS.index(k) for k in ("SW_IN", "TA_MAX", "TA_RANGE", "P", "SAND")]   # GPP follows LUE
        np.testing.assert_array_equal(shared.x[mine][0][:, weather], shared.x[mine][1][:, weather])
    with pytest.raises(ValueError, match="pretrain_replicas"):
        preset("quick", pretrain_replicas=9)                        # more copies than years
    assert preset("quick").pretrain_replicas == 4 and preset("tiny").pretrain_replicas == 1
    old = json.loads(json.dumps(preset("quick").to_dict()))
    del old["pretrain_replicas"]                                   # a run saved before the copies existed
    assert StateVsGlobalConfig.from_dict(old).pretrain_replicas == 1
    with pytest.raises(ValueError, match="pretrain_replica_years"):
        preset("quick", pretrain_replica_years="paired")


def test_pretraining_world_in_segments_joins_consecutive_worlds():
    from kgml_core.experiments.state_vs_global.data import concat_years, year_segments
    from kgml_core.simulator import WorldConfig, simulate_world

    assert year_segments((1990, 2013), 6) == [(1990, 1995), (1996, 2001), (2002, 2007), (2008, 2013)]
    assert year_segments((1986, 2015), 20) == [(1986, 1995), (1996, 2015)]     # the first span shorter
    assert year_segments((2012, 2013), None) == [(2012, 2013)]
    cfg = WorldConfig(years=(2010, 2013), counties=("17019", "18157"), world="ensemble")
    whole = simulate_world(cfg)
    parts = [simulate_world(replace(cfg, years=span)) for span in year_segments(cfg.years, 2)]
    joined = concat_years(parts)
    assert dict(joined.sizes) == dict(whole.sizes) and set(joined.variables) == set(whole.variables)
    for name in ("RH", "P", "CROP", "YIELD", "SOC", "PARAM_RH_Q10"):
        assert joined[name].dims == whole[name].dims
    np.testing.assert_array_equal(joined["RH"].sel(time="2012").values, parts[1]["RH"].sel(time="2012").values)
    np.testing.assert_array_equal(joined["YIELD"].sel(year=2011).values, parts[0]["YIELD"].sel(year=2011).values)
    np.testing.assert_array_equal(joined["PARAM_RH_Q10"].values, whole["PARAM_RH_Q10"].values)  # the same draws
    assert concat_years([whole]) is whole
    assert preset("quick").pretrain_segment is None and preset("quick").rh_layers == 1
    with pytest.raises(ValueError, match="pretrain_segment"):
        preset("quick", pretrain_segment=0)
    with pytest.raises(ValueError, match="rh_layers"):
        preset("quick", rh_layers=0)
    from kgml_core.experiments.state_vs_global.training import _kgml
    assert _kgml(preset("tiny", rh_layers=2)).rh_net.gru.num_layers == 2
    assert _kgml(preset("tiny")).rh_net.gru.num_layers == 1


def test_rh_response_setting_reaches_the_model_and_the_default_keeps_its_sizes():
    from kgml_core.experiments.state_vs_global.training import _kgml, _sizes
    assert preset("quick").rh_response == "gru" and "rh_response" not in _sizes(preset("quick"))
    model = _kgml(preset("tiny", rh_response="q10", q10_in_networks=False, soil_days=5))
    assert model.q10_factor and model.config.soil_days == 5 and not model.config.q10_in_networks
    assert model.shared.input_size == _kgml(preset("tiny")).shared.input_size - 1     # Q10 left the networks
    with pytest.raises(ValueError, match="rh_response"):
        preset("quick", rh_response="arrhenius")
    with pytest.raises(ValueError, match="soil_days"):
        preset("quick", soil_days=0)
    with pytest.raises(ValueError, match="rh_moisture"):
        preset("quick", rh_response="q10", rh_moisture=True)          # needs the SWC output
    both = _kgml(preset("tiny", rh_response="q10", swc_output=True, rh_moisture=True))
    assert both.swc_head is not None and both.config.rh_moisture


def test_stratified_pretraining_domain_draws_every_state_alike():
    from collections import Counter

    from kgml_core import geo
    from kgml_core.experiments.state_vs_global.data import pretraining_counties

    cfg = preset("quick", seed=1)
    table = geo.load_counties(cfg.pretrain_states)
    plain, strata = pretraining_counties(cfg), pretraining_counties(replace(cfg, pretrain_stratified=True))
    assert len(plain) == len(strata) == 256
    assert set(Counter(table.loc[list(strata), "state"]).values()) == {32}
    assert len(set(Counter(table.loc[list(plain), "state"]).values())) > 1       # the default: a draw from the domain
    odd = pretraining_counties(replace(cfg, pretrain_units=20, pretrain_stratified=True))
    assert sorted(Counter(table.loc[list(odd), "state"]).values()) == [2] * 4 + [3] * 4


def test_training_sets_are_built_before_the_pretraining_world_is_dropped():
    """A run drops the pretraining world once its samples are built: the same sets as from the whole data."""
    cfg = preset("tiny")
    data = load_data(cfg)
    light, sets = without_pretraining_world(cfg, data)
    assert light.pretrain is None and data.pretrain is not None
    assert light.truth is data.truth and light.sites is data.sites
    built = training_sets(cfg, data)
    for name in ("process", "yields", "sites", "evaluation"):
        assert samples_digest(getattr(sets, name)) == samples_digest(getattr(built, name)), name
    # without the world a training set would come from the process world: the order matters
    assert samples_digest(training_sets(cfg, light).process) != samples_digest(sets.process)


def test_towers_oracle_is_the_tower_hosts_mean_and_the_state_mean_without_heterogeneity():
    from kgml_core.experiments.state_vs_global.data import _every_state_hosts
    from kgml_core.experiments.state_vs_global.training import _world_predictions

    cfg = preset("tiny", states=("IL", "IN"), threads=1)        # one tower per state
    data = load_data(cfg)
    truth, towers = data.truth, data.oracles["towers_mean"]
    hosts = dict(zip(data.sites["state"].values.astype(str), data.sites["county"].values.astype(str)))
    states, units = truth["state"].values.astype(str), truth["unit"].values.astype(str)
    for st, host in hosts.items():                              # one tower: exactly its host's parameters
        for name in ("RH_Q10", "RH_KSOM", "LUE", "DRAINAGE"):
            np.testing.assert_allclose(towers[f"PARAM_{name}"].values[states == st],
                                       truth[f"PARAM_{name}"].values[units == host][0], rtol=1e-6)
    assert not np.allclose(towers["PARAM_RH_Q10"].values, data.oracles["state_mean"]["PARAM_RH_Q10"].values)
    # without heterogeneity every county has the same parameters: the towers' oracle is the state-mean oracle
    flat = load_data(cfg, heterogeneity=0.0)
    years = flat.train_years + flat.test_years
    np.testing.assert_array_equal(_world_predictions(flat.oracles["towers_mean"], years)["RH"],
                                  _world_predictions(flat.oracles["state_mean"], years)["RH"])
    # a state without a tower has no towers' oracle: the world is not simulated (and raises no error)
    assert _every_state_hosts(truth, set(hosts.values())) and not _every_state_hosts(truth, {hosts["IL"]})


def test_step4_on_the_regional_ensemble_samples_the_training_county_years_under_prior_draws():
    """``step4_world="regional"``: step 4 reads the prior ensemble of the modelled training counties and
    training years (process model only), one draw per county; the default reads the pretraining samples."""
    cfg = preset("tiny", states=("IL", "IA"), step4_world="regional")
    data = load_data(cfg)
    sets = training_sets(cfg, data)
    regional = sets.regional
    assert sets.step4 is regional
    train_units = set(data.split.index[data.split == "train"])
    assert set(regional.unit) == train_units and set(regional.year) == set(data.train_years)
    assert len(regional) == len(train_units) * len(data.train_years)
    # the process model with prior draws, not the truth: the parameters differ from the observed world's
    truth_q10 = data.truth["PARAM_RH_Q10"].to_series()
    drawn = regional.params[:, list(PARAM_NAMES).index("RH_Q10")]
    assert not np.allclose(drawn, truth_q10.reindex(regional.unit).to_numpy())
    assert np.unique(drawn).size > 1
    # the same weather as the observed world of those county-years
    same = make_samples(data.truth.sel(unit=regional.unit[:1]), [int(regional.year[0])], cfg.warmup)
    weather = [INPUTS.index(name) for name in ("SW_IN", "TA_MAX", "P")]
    np.testing.assert_array_equal(regional.x[0][:, weather], same.x[0][:, weather])
    # independent of the heterogeneity, as the pretraining ensemble (the sweep reuses it)
    other = training_sets(cfg, load_data(cfg, heterogeneity=0.0)).regional
    assert samples_digest(other) == samples_digest(regional)
    default = training_sets(preset("tiny", states=("IL", "IA")), data)
    assert default.regional is None and default.step4 is default.process
    with pytest.raises(ValueError, match="step4_world"):
        preset("quick", step4_world="observed")


def test_tiny_run_with_step4_on_the_regional_ensemble(tmp_path):
    cfg = preset("tiny", states=("IA",), step4_world="regional", models=("state_specific",))
    store = RunStore(tmp_path)
    run = run_state_vs_global(cfg, store)
    assert run.status == "finished" and run.config["step4_world"] == "regional"
    assert run.metrics()["parameters"]["state"]["IA"]
    plain = run_state_vs_global(replace(cfg, step4_world="pretraining"), store)
    before, after = plain.load_weights("pretrained"), run.load_weights("pretrained")
    assert all(torch.equal(before[k], after[k]) for k in before)        # steps 1-2 do not read it
    rh = [k for k in before if k.startswith("rh_net.")]
    assert rh and not all(torch.equal(plain.load_weights("global")[k], run.load_weights("global")[k]) for k in rh)


def test_held_out_marks_the_held_out_counties_and_years_of_samples():
    from kgml_core.experiments.state_vs_global.data import held_out

    cfg = preset("tiny", states=("IL", "IA"))
    data = load_data(cfg)
    ev = training_sets(cfg, data).evaluation
    county, year = held_out(data, ev)
    assert county.shape == year.shape == (len(ev),) and county.any() and year.any()
    assert set(ev.county[county]) == set(data.split.index[data.split == "test"])
    assert set(ev.year[year]) == set(data.test_years) and not set(ev.year[~year]) & set(data.test_years)
