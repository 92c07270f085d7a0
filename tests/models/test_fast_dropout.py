"""Dropout by the extension's Mersenne twister: torch's masks, gradient and generator state, bit for bit."""
import pytest
import torch

from kgml_core.models import fast_gru, gru_ext
from kgml_core.models.gru_attention import GRUAttention
from kgml_core.models.kgml_ag import KGMLAg, KGMLAgConfig


def _needs_extension():
    if gru_ext.extension() is None:
        pytest.skip("the fused GRU extension is not built in this checkout (`make`)")


@pytest.mark.parametrize("shape", [(1,), (311,), (312,), (313,), (625,), (9, 70, 3), (547, 64, 32)])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("offset", [0, 1, 622, 623, 624, 1000])
def test_dropout_equals_torch_bit_for_bit(shape, p, offset):
    """Same output, gradient and generator state afterwards, from any position of the generator (``offset``
    words drawn before: the twister's state renewals fall anywhere in the mask)."""
    _needs_extension()
    x = torch.randn(shape, requires_grad=True)
    grad = torch.randn(shape)
    torch.manual_seed(7)
    torch.rand(offset // 2 + offset % 2)            # float draws take one word each: odd offsets too
    if offset % 2:
        torch.randint(0, 2, (1,))                    # ... and one 64-bit draw two words
    start = torch.get_rng_state()
    results = []
    for drop in (lambda: torch.dropout(x, p, True), lambda: fast_gru.dropout(x, p, True)):
        torch.set_rng_state(start)
        out = drop()
        after = torch.get_rng_state()
        results.append((out, torch.autograd.grad(out, x, grad)[0], after, torch.rand(4)))
    (a, ga, sa, ra), (b, gb, sb, rb) = results
    assert torch.equal(a, b) and torch.equal(ga, gb)
    assert torch.equal(sa, sb) and torch.equal(ra, rb)


def test_dropout_passes_through_what_it_does_not_handle():
    x = torch.randn(4, 5)
    assert fast_gru.dropout(x, 0.3, training=False) is x and fast_gru.dropout(x, 0.0) is x
    torch.manual_seed(1)
    a = torch.dropout(x.t(), 0.3, True)             # not contiguous: torch's own dropout
    torch.manual_seed(1)
    assert torch.equal(fast_gru.dropout(x.t(), 0.3), a)
    torch.manual_seed(1)
    assert torch.equal(fast_gru.dropout(x, 1.0), torch.dropout(x, 1.0, True))


@pytest.mark.parametrize("model", ["kgml_ag", "gru_attention"])
def test_seeded_training_steps_equal_torch_dropout(model, monkeypatch):
    """A model with dropout trained a few steps from one seed: the same weights with the fast dropout as with
    torch's (the models' ``Dropout`` and the dropout between GRU layers)."""
    _needs_extension()

    def train():
        torch.manual_seed(3)
        net = KGMLAg(KGMLAgConfig(n_inputs=5, hidden=16, flux_hidden=16, head_hidden=8, dropout=0.2)) \
            if model == "kgml_ag" else GRUAttention()
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        x = torch.randn(4, 30, 5 if model == "kgml_ag" else net.config.n_inputs)
        for _ in range(3):
            opt.zero_grad()
            out = net(x)
            sum(v.square().mean() for k, v in out.items() if k != "attention").backward()
            opt.step()
        return net.state_dict()

    fast = train()
    monkeypatch.setattr(fast_gru, "dropout", lambda x, p, training=True: torch.nn.functional.dropout(x, p, training))
    slow = train()
    assert all(torch.equal(fast[k], slow[k]) for k in fast)


@pytest.mark.parametrize("parts", [[(0, 10)], [(0, 4), (4, 10)], [(0, 1), (1, 2), (2, 9), (9, 10)]])
def test_replayed_dropout_gives_parts_of_a_batch_its_masks(parts):
    """Forwards on parts of a batch's rows (axis 1) within ``replayed_dropout`` get the rows of the masks one
    forward on the whole batch draws, in the same order of calls, and leave the generator where it would."""
    x1, x2, wrong = torch.randn(7, 10, 3), torch.randn(7, 10, 5), torch.randn(7, 11, 3)
    torch.manual_seed(4)
    whole = (fast_gru.dropout(x1, 0.2), fast_gru.dropout(x2, 0.5))
    after = torch.get_rng_state()
    torch.manual_seed(4)
    got = ([], [])
    with fast_gru.replayed_dropout(10) as replay:
        for start, stop in parts:
            replay.select(start, stop)
            got[0].append(fast_gru.dropout(x1[:, start:stop].contiguous(), 0.2))
            got[1].append(fast_gru.dropout(x2[:, start:stop].contiguous(), 0.5))
        with pytest.raises(ValueError, match="time-major"):
            fast_gru.dropout(wrong, 0.2)
    assert torch.equal(torch.cat(got[0], 1), whole[0]) and torch.equal(torch.cat(got[1], 1), whole[1])
    assert torch.equal(torch.get_rng_state(), after)
    assert fast_gru._REPLAY is None
