"""Plain LSTM and context LSTM (CT-LSTM) flux regressors, the TAM-RL baselines.

Both map a window of daily inputs ``x`` (batch, days, n_dyn) to GPP, RECO and
NEE (batch, days, 3) in standardised units. The CT-LSTM also receives the
site's static features ``s`` (batch, n_static), appended to every day.
The plain LSTM's layers (``embed``, ``lstm``, ``head``) have the same names and
shapes as TAM-RL's forward model, so its weights copy over unchanged.
"""
from __future__ import annotations

import torch
from torch import nn


class LSTMModel(nn.Module):
    """Embedding, one LSTM layer and a linear head shared by the three fluxes.

    Parameters
    ----------
    n_dyn : number of daily inputs.
    n_static : number of static inputs appended to every day (0 for the plain LSTM).
    hidden : LSTM state size.
    n_out : number of outputs (3: GPP, RECO, NEE).
    dropout : dropout on the LSTM output.
    """

    uses_static = False

    def __init__(self, n_dyn: int = 13, n_static: int = 0, hidden: int = 64, n_out: int = 3,
                 dropout: float = 0.1):
        super().__init__()
        self.n_static = n_static if self.uses_static else 0
        self.embed = nn.Sequential(nn.Linear(n_dyn + self.n_static, hidden), nn.LeakyReLU(0.1))
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_out)

    def inputs(self, x: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        if not self.n_static:
            return x
        if s is None:
            raise ValueError(f"{type(self).__name__} needs static features s of shape (batch, {self.n_static})")
        return torch.cat([x, s[:, None, :].expand(-1, x.shape[1], -1)], dim=-1)

    def forward(self, x: torch.Tensor, s: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``{"y_hat": (batch, days, n_out)}`` from ``x`` (batch, days, n_dyn)."""
        h, _ = self.lstm(self.embed(self.inputs(x, s)))
        return {"y_hat": self.head(self.drop(h))}


class CTLSTMModel(LSTMModel):
    """Context LSTM: the plain LSTM with the static site features appended to every day."""

    uses_static = True
