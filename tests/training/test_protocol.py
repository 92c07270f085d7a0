import numpy as np
import pytest
import torch

from kgml_core.models import build_model
from kgml_core.progress import CancelToken, Cancelled
from kgml_core.training.data import Normalizer, make_samples
from kgml_core.training.protocol import ProtocolConfig, STEPS, finetune, finetune_region, pretrain
from kgml_core.training.trainer import KGMLTrainer, Source, StepConfig
from tests.training.conftest import fake_world

torch.set_num_threads(1)


def _setup(seed=0):
    process = make_samples(fake_world(4, seed=seed))
    norm = Normalizer.fit(process)
    model = build_model("kgml_ag", {"n_inputs": 19, "hidden": 8, "flux_hidden": 8, "head_hidden": 8})
    return process, norm, model


def _tiny():
    small = StepConfig(epochs=1, batch_size=4)
    return ProtocolConfig(*(small,) * 7)


def test_each_step_trains_only_its_groups():
    process, norm, model = _setup()
    trainer = KGMLTrainer(model, norm, device=torch.device("cpu"))
    for step, (groups, kind) in STEPS.items():
        before = trainer.state_dict()
        data = process
        if kind == "site_fluxes":
            data = make_samples(fake_world(2, seed=1, kind="site").drop_vars(["RA", "RH"]))
        trainer.train_step(step, [Source(data, kind)], groups, StepConfig(epochs=1, batch_size=4))
        after = trainer.state_dict()
        prefixes = tuple(f"{m}." for g in groups for m in type(model).GROUPS[g])
        for name in before:
            changed = not torch.equal(before[name], after[name])
            assert changed == name.startswith(prefixes), (step, name)


def test_protocol_reduces_loss_and_predicts_physical_units():
    process, norm, model = _setup()
    events = []
    trainer = KGMLTrainer(model, norm, device=torch.device("cpu"), progress=events.append)
    cfg = StepConfig(epochs=4, batch_size=4, lr=1e-2)
    log = trainer.train_step("fit", [Source(process, "process_fluxes")], ("shared", "ra", "rh", "nee"), cfg)
    assert log.epochs[-1]["rh"] < log.epochs[0]["rh"]
    assert events and events[-1].epoch == 4 and "balance" in events[-1].losses
    pred = trainer.predict(process)
    assert pred["RA"].shape == (8, 365) and pred["YIELD"].shape == (8,)
    np.testing.assert_allclose(pred["RECO"], pred["RA"] + pred["RH"], rtol=1e-5)
    assert abs(pred["RA"].mean() - process.daily["RA"].mean()) < 2.0


def test_full_protocol_and_region_finetune_runs():
    process, norm, model = _setup()
    trainer = KGMLTrainer(model, norm, device=torch.device("cpu"))
    yields = make_samples(fake_world(4, seed=2).drop_vars(["RA", "RH", "NEE", "RECO"]))
    sites = make_samples(fake_world(2, seed=3, kind="site").drop_vars(["RA", "RH"]))
    logs = pretrain(trainer, process, _tiny()) + finetune(trainer, process, yields, sites, _tiny())
    assert [l.name for l in logs] == [f"global/step{i}" for i in range(1, 6)]
    anchor = trainer.state_dict()
    cfg = _tiny()
    cfg.region5 = StepConfig(epochs=2, batch_size=4, l2sp=1.0)
    region_logs = finetune_region(trainer, yields, sites, cfg, anchor, "IL")
    assert "l2sp" in region_logs[1].epochs[-1]


def test_cancel_stops_training():
    process, norm, model = _setup()
    token = CancelToken()
    token.cancel()
    trainer = KGMLTrainer(model, norm, device=torch.device("cpu"), cancel=token)
    with pytest.raises(Cancelled):
        trainer.train_step("x", [Source(process, "process_fluxes")], ("ra",), StepConfig(epochs=1))


def test_unknown_group_named():
    process, norm, model = _setup()
    trainer = KGMLTrainer(model, norm, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="groups"):
        trainer.set_trainable(["encoder"])


def test_region_finetune_leaves_ra_and_shared_alone():
    process, norm, model = _setup()
    trainer = KGMLTrainer(model, norm, device=torch.device("cpu"))
    yields = make_samples(fake_world(2, seed=2).drop_vars(["RA", "RH", "NEE", "RECO"]))
    sites = make_samples(fake_world(2, seed=3, kind="site").drop_vars(["RA", "RH"]))
    before = trainer.state_dict()
    cfg = _tiny()
    cfg.region_groups = ("rh", "nee")
    finetune_region(trainer, yields, sites, cfg, before, "IA")
    after = trainer.state_dict()
    for name in before:
        changed = not torch.equal(before[name], after[name])
        assert changed == name.startswith(("yield_head.", "rh_net.", "nee_net.")), name


def test_cosine_schedule_anneals_learning_rate():
    from kgml_core.training.trainer import cosine_lr

    rates = [cosine_lr(1e-2, e, 5) for e in range(1, 6)]
    assert rates[0] == pytest.approx(1e-2) and rates[-1] == pytest.approx(5e-4)
    assert all(a > b for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("rh_layers", [1, 2])
def test_county_yield_step_skips_the_flux_networks_with_the_same_weights(monkeypatch, rh_layers):
    """Step 3 (county yields, yield head) runs KGML-ag without its flux networks: the same weights, bit for bit,
    as the full forward (with dropout between Rh layers the full forward runs: it draws random numbers)."""
    process, norm, _ = _setup()
    calls = []

    def step3(skip: bool):
        monkeypatch.setattr(type(build_model("kgml_ag", {})), "SKIPS_FLUXES", skip)
        torch.manual_seed(5)
        model = build_model("kgml_ag", {"n_inputs": 19, "hidden": 8, "flux_hidden": 8, "head_hidden": 8,
                                        "dropout": 0.3, "rh_layers": rh_layers})
        trainer = KGMLTrainer(model, norm, device=torch.device("cpu"), seed=5)
        monkeypatch.setattr(model.rh_net, "from_parts", lambda parts: calls.append(skip) or
                            type(model.rh_net).from_parts(model.rh_net, parts))      # records that Rh ran
        trainer.train_step("step3", [Source(process, "county_yield")], ["yield"], StepConfig(epochs=2, batch_size=3))
        return trainer.state_dict(), torch.rand(2)            # the weights and the generator's next draws

    (skipped, r1), (full, r2) = step3(True), step3(False)
    assert all(torch.equal(skipped[k], full[k]) for k in full) and torch.equal(r1, r2)
    assert (True in calls) == (rh_layers == 2) and False in calls


def test_finetune_work_counts_the_validation_fits_of_each_fold_kind():
    from dataclasses import replace
    from kgml_core.training.protocol import finetune_work
    sites = make_samples(fake_world(3, seed=1, kind="site").drop_vars(["RA", "RH"]))
    towers, years = len(np.unique(sites.unit.astype(str))), len(np.unique(sites.year))
    assert towers >= 2 and years >= 2
    estimate = StepConfig(epochs=5, batch_size=4, l2sp_grid=(1e-1, 1e-2), l2sp_grid_epochs=3)
    cfg = replace(_tiny(), region5=estimate, region_groups=("params",), estimate_with_yields=False)
    by_site = finetune_work(sites, sites, cfg)
    assert by_site == 5 * len(sites) + 3 * 2 * len(sites) * (towers - 1)
    by_site_and_year = finetune_work(sites, sites, replace(cfg, region5=replace(estimate, l2sp_grid_folds="sites+years")))
    assert by_site_and_year - by_site == 3 * 2 * len(sites) * (years - 1)
