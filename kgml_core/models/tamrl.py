"""TAM-RL: task-aware modulation of an LSTM forward model by a learned site embedding.

Each flux site is a task. A task encoder reads a *support* window of the
site's own data (drivers and observed fluxes, never the window being predicted)
and returns an embedding ``z``; a static encoder maps the site's static features
and classes to the same space for places without data (zero-shot). The forward
model is an LSTM modulated by ``z`` with FiLM:

* input scale ``s = relu(W_s z) + 1`` multiplies the embedded inputs;
* after the LSTM, ``h' = (1 + gamma) * h + beta`` with ``[gamma, beta] = W_f z``;
* a linear head predicts GPP, RECO and NEE together.

``W_s`` and ``W_f`` start at zero, so an untrained modulation is the identity
and a pretrained plain LSTM copied into the forward model predicts exactly as
before (Rozanov, Renganathan & Kumar, arXiv 2603.09974).
"""
from __future__ import annotations

import torch
from torch import nn

from kgml_core.models.lstm import LSTMModel


class TaskEncoder(nn.Module):
    """Support window -> task embedding.

    Linear, BatchNorm, LeakyReLU, bidirectional LSTM; the last forward and
    backward states are summed and mapped linearly to ``z``.

    Parameters
    ----------
    n_in : inputs per support day (drivers, observed fluxes, observation mask).
    hidden : width of the embedding and of each LSTM direction.
    z_dim : size of the task embedding (32-64 in the article).
    """

    def __init__(self, n_in: int, hidden: int = 64, z_dim: int = 32):
        super().__init__()
        self.proj = nn.Linear(n_in, hidden)
        self.norm = nn.BatchNorm1d(hidden)
        self.act = nn.LeakyReLU(0.1)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(hidden, z_dim)

    def forward(self, support: torch.Tensor) -> torch.Tensor:
        """(batch, days, n_in) -> (batch, z_dim)."""
        b, t, _ = support.shape
        h = self.proj(support).reshape(b * t, -1)
        h = self.act(self.norm(h)).reshape(b, t, -1)
        _, (h_n, _) = self.lstm(h)
        return self.out(h_n[-2] + h_n[-1])


class StaticEncoder(nn.Module):
    """Static site features and one-hot classes -> task embedding (zero-shot mode)."""

    def __init__(self, n_static: int, hidden: int = 64, z_dim: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_static, hidden), nn.LeakyReLU(0.1),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.1),
                                 nn.Linear(hidden, z_dim))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """(batch, n_static) -> (batch, z_dim)."""
        return self.net(s)


class FiLMLSTM(LSTMModel):
    """The forward model: :class:`LSTMModel` with FiLM modulation by ``z``."""

    def __init__(self, n_dyn: int, z_dim: int = 32, hidden: int = 64, n_out: int = 3,
                 dropout: float = 0.1):
        super().__init__(n_dyn, 0, hidden, n_out, dropout)
        self.scale = nn.Linear(z_dim, hidden)
        self.film = nn.Linear(z_dim, 2 * hidden)
        for layer in (self.scale, self.film):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """``{"y_hat": (batch, days, n_out)}`` from ``x`` (batch, days, n_dyn) and ``z`` (batch, z_dim)."""
        e = self.embed(x) * (torch.relu(self.scale(z)) + 1.0)[:, None, :]
        h, _ = self.lstm(e)
        gamma, beta = self.film(z).chunk(2, dim=-1)
        h = (1.0 + gamma[:, None, :]) * h + beta[:, None, :]
        return {"y_hat": self.head(self.drop(h))}


class TAMRLModel(nn.Module):
    """Task encoder, static (zero-shot) encoder and FiLM-modulated forward model.

    Parameters
    ----------
    n_dyn : daily inputs of the forward model.
    n_static : static inputs of the zero-shot encoder.
    n_support : inputs per support day of the task encoder.
    hidden, z_dim, dropout : sizes as in the article (64, 32, 0.1).
    """

    def __init__(self, n_dyn: int = 13, n_static: int = 16, n_support: int = 19, hidden: int = 64,
                 z_dim: int = 32, dropout: float = 0.1):
        super().__init__()
        self.encoder = TaskEncoder(n_support, hidden, z_dim)
        self.static_encoder = StaticEncoder(n_static, hidden, z_dim)
        self.forward_model = FiLMLSTM(n_dyn, z_dim, hidden, 3, dropout)

    def embed(self, support: torch.Tensor | None = None, s: torch.Tensor | None = None) -> torch.Tensor:
        """Task embedding: zero-shot from static features; few-shot adds the support encoder's part.

        With both, ``z = g(s) + f(support)``: the support window refines what the
        site description already says (our choice; with ``s`` None the support
        encoder alone gives ``z``, as in the article). ``support`` is one window
        (batch, days, n_support) or several (batch, n_windows, days, n_support):
        then ``f`` is the mean of the windows' encodings over the windows with at
        least one observed day (the last ``3`` support columns are the observed
        mask), so a longer support averages more evidence.
        """
        if support is None and s is None:
            raise ValueError("TAM-RL needs a support window (few-shot) or static features (zero-shot)")
        z = self.static_encoder(s) if s is not None else 0.0
        if support is None:
            return z
        if support.dim() == 3:
            return z + self.encoder(support)
        b, c, t, f = support.shape
        enc = self.encoder(support.reshape(b * c, t, f)).reshape(b, c, -1)
        used = (support[..., -3:].amax(dim=(2, 3)) > 0).float()            # (batch, n_windows)
        return z + (enc * used[..., None]).sum(1) / used.sum(1, keepdim=True).clamp_min(1.0)

    def forward(self, x: torch.Tensor, s: torch.Tensor | None = None,
                support: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``{"y_hat": (batch, days, 3), "z": (batch, z_dim)}``."""
        z = self.embed(support, s)
        out = self.forward_model(x, z)
        out["z"] = z
        return out

    def load_pretrained(self, lstm: LSTMModel) -> None:
        """Copy a trained plain LSTM's weights into the forward model (modulation left as is)."""
        own = self.forward_model.state_dict()
        theirs = lstm.state_dict()
        wrong = [k for k, v in theirs.items() if k not in own or own[k].shape != v.shape]
        if wrong or set(own) - set(theirs) - {"scale.weight", "scale.bias", "film.weight", "film.bias"}:
            raise ValueError(f"pretrained LSTM does not match the forward model (parameters {wrong} differ "
                             f"in name or shape; build both with the same n_dyn and hidden)")
        self.forward_model.load_state_dict(theirs, strict=False)
