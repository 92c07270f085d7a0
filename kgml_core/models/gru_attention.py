"""A plain GRU with an attention yield head: the level-1 data-driven model.

One GRU reads the drivers; a linear read-out gives Ra, Rh and NEE together and
an attention head gives the yield. No sub-networks, no residue input and (in
the trainer) no knowledge-guided loss or process-model pretraining: it is what
a one-size-fits-all data-driven model learns from the observations alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kgml_core.models.fast_gru import Dropout
from kgml_core.models.kgml_ag import AttentionYieldHead


@dataclass
class GRUAttentionConfig:
    """Sizes of the GRU-with-attention model (``n_inputs`` daily features)."""

    n_inputs: int = 19
    hidden: int = 64
    n_layers: int = 1
    head_hidden: int = 32
    dropout: float = 0.1


class GRUAttention(nn.Module):
    """GRU + attention. ``forward(x, residue=None)`` has KGML-ag's output dict (residue ignored)."""

    config_class = GRUAttentionConfig
    GROUPS = {"shared": ("gru",), "yield": ("yield_head",), "ra": ("out",), "rh": ("out",),
              "nee": ("out",)}

    def __init__(self, config: GRUAttentionConfig | None = None):
        super().__init__()
        self.config = config or GRUAttentionConfig()
        c = self.config
        self.gru = nn.GRU(c.n_inputs, c.hidden, num_layers=c.n_layers, batch_first=True,
                          dropout=c.dropout if c.n_layers > 1 else 0.0)
        self.drop = Dropout(c.dropout)       # nn.Dropout's values and generator use, faster on CPU
        self.yield_head = AttentionYieldHead(c.hidden, c.head_hidden)
        self.out = nn.Linear(c.hidden, 3)

    def forward(self, x: torch.Tensor, residue: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        h = self.drop(self.gru(x)[0])
        yield_, attention = self.yield_head(h)
        ra, rh, nee = self.out(h).unbind(-1)
        return {"yield": yield_, "ra": ra, "rh": rh, "nee": nee, "attention": attention}
