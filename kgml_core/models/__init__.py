"""Model zoo: every model is one module and one line in :data:`MODELS`.

A model class is built from its config alone (``cls(config)``; a dataclass or
a dict of keyword arguments) and its ``forward`` returns a dict of named
outputs. :func:`build_model` looks a name up and builds it.
"""
from __future__ import annotations

from dataclasses import is_dataclass
from typing import Any

from kgml_core.models.gru_attention import GRUAttention
from kgml_core.models.kgml_ag import KGMLAg
from kgml_core.models.lstm import CTLSTMModel, LSTMModel
from kgml_core.models.tamrl import TAMRLModel

MODELS: dict[str, type] = {
    "kgml_ag": KGMLAg,
    "gru_attention": GRUAttention,
    "lstm": LSTMModel,
    "ct_lstm": CTLSTMModel,
    "tamrl": TAMRLModel,
}


def build_model(name: str, config: Any = None):
    """Build the registered model ``name`` from ``config``.

    Parameters
    ----------
    name : a key of :data:`MODELS`.
    config : the model's config dataclass, a dict of its fields, or None for defaults.
    """
    if name not in MODELS:
        raise KeyError(f"unknown model '{name}'; registered models: {sorted(MODELS)}")
    cls = MODELS[name]
    if config is None:
        return cls()
    if isinstance(config, dict):
        config_cls = getattr(cls, "config_class", None)
        return cls(config_cls(**config)) if config_cls else cls(**config)
    if is_dataclass(config):
        return cls(config)
    raise TypeError(f"config for '{name}' must be a dataclass, dict or None, not {type(config).__name__}")
