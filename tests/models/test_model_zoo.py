import pytest
import torch

from kgml_core.models import MODELS, build_model


KGML_FAMILY = ["kgml_ag", "gru_attention"]


@pytest.mark.parametrize("name", KGML_FAMILY)
def test_forward_shapes_and_backward(name):
    torch.manual_seed(0)
    model = build_model(name, {"n_inputs": 5, "hidden": 8})
    x = torch.randn(3, 20, 5)
    out = model(x, torch.zeros(3, 20))
    assert out["yield"].shape == (3,)
    for key in ("ra", "rh", "nee"):
        assert out[key].shape == (3, 20)
    torch.testing.assert_close(out["attention"].sum(1), torch.ones(3))
    sum(o.sum() for o in out.values()).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_groups_name_real_modules():
    for name in KGML_FAMILY:
        cls = MODELS[name]
        model = build_model(name, {"n_inputs": 4, "hidden": 8})
        for modules in cls.GROUPS.values():
            for module in modules:
                assert hasattr(model, module), (name, module)


def test_unknown_model_named():
    with pytest.raises(KeyError, match="registered models"):
        build_model("nope")


def test_kgml_residue_changes_only_rh_and_nee():
    torch.manual_seed(0)
    model = build_model("kgml_ag", {"n_inputs": 4, "hidden": 8}).eval()
    x = torch.randn(2, 10, 4)
    a = model(x, torch.zeros(2, 10))
    b = model(x, torch.ones(2, 10))
    torch.testing.assert_close(a["ra"], b["ra"])
    assert not torch.allclose(a["rh"], b["rh"])
