"""One strict configuration mechanism for every experiment (and the dataclasses nested in them).

An experiment's configuration is a dataclass that also derives from
:class:`ExperimentConfig`. Building one, from keyword arguments, a saved
``config.json``, a preset or ``--set key=value`` on the command line, goes
through the same checks:

* unknown keys are an error (also inside nested dataclasses such as
  :class:`~kgml_core.training.trainer.StepConfig`);
* every value is converted to its declared type (JSON lists become tuples,
  dicts become the nested dataclass, ints become floats) or refused;
* numbers must be finite, ``seed`` and ``seeds`` non-negative, ``states``
  known postal codes, ``years`` a (first, last) pair in the simulator's range;
* then the experiment's own :meth:`ExperimentConfig.check`.

The dict form (:meth:`ExperimentConfig.to_dict`) is what every run saves.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import types
import typing
from typing import Any, ClassVar, Mapping, Union


def check_known_keys(cls: type, data: Mapping[str, Any], what: str) -> None:
    """Raise ValueError naming the keys of ``data`` that dataclass ``cls`` does not have.

    Saved configurations are data, so a misspelt key must fail loudly instead of
    being ignored.
    """
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} keys {unknown}; known: {sorted(known)}")


def build(cls: type, data: Mapping[str, Any], what: str | None = None) -> Any:
    """Dataclass ``cls`` from ``data``, strictly: unknown keys fail, values take the declared types."""
    what = what or cls.__name__
    if not isinstance(data, Mapping):
        raise ValueError(f"{what} must be a mapping of settings, got {type(data).__name__}")
    check_known_keys(cls, data, what)
    hints = _hints(cls)
    return cls(**{k: coerce(v, hints[k], f"{what}.{k}") for k, v in data.items()})


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _field_hints(cls: type) -> dict[str, Any]:
    """Declared types of the dataclass fields of ``cls`` (class variables left out)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in _hints(cls).items() if k in names}


def coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` converted to the type ``hint`` of setting ``key``; ValueError when it does not fit."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return coerce(value, next(a for a in args if a is not type(None)), key)
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else build(hint, value, key)
    if origin is tuple:
        return _coerce_tuple(value, args, key)
    if hint is bool:
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return bool(value)
    elif hint is int:
        if _is_number(value) and float(value) == int(value):
            return int(value)
    elif hint is float:
        if _is_number(value):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise ValueError(f"setting {key} must be {getattr(hint, '__name__', hint)}, got {value!r}")


def _is_number(value: Any) -> bool:
    import numbers
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _coerce_tuple(value: Any, args: tuple, key: str) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ValueError(f"setting {key} must be a list, got {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(coerce(v, args[0], key) for v in value)
    if len(value) != len(args):
        raise ValueError(f"setting {key} must have {len(args)} values, got {value!r}")
    return tuple(coerce(v, a, key) for v, a in zip(value, args))


def parse_text(text: str, hint: Any, key: str) -> Any:
    """A command-line value for a setting of type ``hint``: lists are comma-separated, the rest JSON.

    ``states=IL,IA`` -> ("IL", "IA"); ``seed=3`` -> 3; ``n_regions=null`` -> None;
    a string setting takes the text as it is.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType) and text.strip().lower() in ("none", "null", ""):
        return None
    if origin in (Union, types.UnionType):
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is str:
        return text
    if origin is tuple:
        parts = [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
        element = args[0] if args else str
        return coerce([parse_text(p, element, key) for p in parts], hint, key)
    try:
        value = json.loads(text.strip().lower() if text.strip().lower() in ("true", "false") else text)
    except ValueError:
        raise ValueError(f"setting {key}: cannot read {text!r} as {getattr(hint, '__name__', hint)}") from None
    return coerce(value, hint, key)


def _finite(value: Any, key: str) -> None:
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            _finite(getattr(value, f.name), f"{key}.{f.name}")
    elif isinstance(value, (tuple, list)):
        for v in value:
            _finite(v, key)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"setting {key} must be a finite number, got {value!r}")


class ExperimentConfig:
    """Base of the experiments' configuration dataclasses (see the module docstring).

    Subclasses are ``@dataclass`` classes with a ``preset: str`` field, a
    :data:`PRESETS` table (preset name -> overrides of the defaults; "quick"
    is the defaults), :data:`EXECUTION_KEYS` (settings that change how fast a
    run goes, not what it computes) and an optional :meth:`check`.
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"quick": {}}
    EXECUTION_KEYS: ClassVar[tuple[str, ...]] = ("threads", "device")
    LABEL: ClassVar[str] = "experiment config"

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, coerce(getattr(self, f.name), hints[f.name], f.name))
        self._check_shared()
        self.check()

    def _check_shared(self) -> None:
        from kgml_core import geo
        from kgml_core.simulator.config import check_years

        names = {f.name for f in dataclasses.fields(self)}
        for f in dataclasses.fields(self):
            _finite(getattr(self, f.name), f.name)
        for key in ("seed", "seeds"):
            for seed in (getattr(self, key, ()) if key == "seeds" else (getattr(self, key, 0),)):
                if key in names and seed < 0:
                    raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")
        if "states" in names:
            self.states = tuple(geo.resolve_states(self.states))  # unknown codes fail before any run exists
        if "years" in names:
            check_years(tuple(self.years))

    def check(self) -> None:
        """The experiment's own checks (raise ValueError naming the setting)."""

    # -- building -----------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """Inverse of :meth:`to_dict` (e.g. a saved ``config.json``); unknown keys are an error."""
        return build(cls, data, cls.LABEL)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any):
        """The named preset with ``overrides`` applied (unknown preset or key: ValueError)."""
        if name not in cls.PRESETS:
            raise ValueError(f"unknown preset '{name}'; choose one of {sorted(cls.PRESETS)}")
        settings = {**copy.deepcopy(cls.PRESETS[name]), **overrides, "preset": name}
        return build(cls, settings, cls.LABEL)

    @classmethod
    def preset_names(cls) -> list[str]:
        """Preset names, ``quick`` first."""
        return sorted(cls.PRESETS, key=lambda n: (n != "quick", n != "tiny", n))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (saved with every run)."""
        return dataclasses.asdict(self)

    def with_settings(self, settings: Mapping[str, Any]):
        """A copy with ``settings`` changed; keys may be dotted into nested settings (``train.epochs``)."""
        data = self.to_dict()
        for key, value in settings.items():
            *path, last = key.split(".")
            node = data
            for part in path:
                if not isinstance(node.get(part), dict):
                    raise ValueError(f"unknown {self.LABEL} key '{key}': '{part}' has no nested settings")
                node = node[part]
            if last not in node:
                raise ValueError(f"unknown {self.LABEL} key '{key}'; known: {sorted(node)}")
            node[last] = value
        return self.from_dict(data)

    def parse_setting(self, key: str, text: str) -> Any:
        """The typed value of ``key=text`` from the command line (dotted keys reach nested settings)."""
        cls: Any = type(self)
        *path, last = key.split(".")
        for part in path:
            cls = _field_hints(cls).get(part) if dataclasses.is_dataclass(cls) else None
            cls = next((a for a in typing.get_args(cls) if dataclasses.is_dataclass(a)), cls)
        hints = _field_hints(cls) if dataclasses.is_dataclass(cls) else {}
        if last not in hints:
            raise ValueError(f"unknown {self.LABEL} key '{key}'; known: {sorted(hints)}")
        return parse_text(text, hints[last], key)

    def differences(self, other: Mapping[str, Any]) -> list[str]:
        """Keys whose values differ from the saved config ``other``, ignoring :data:`EXECUTION_KEYS`."""
        mine = json.loads(json.dumps(self.to_dict()))
        theirs = json.loads(json.dumps(dict(other)))
        keys = (set(mine) | set(theirs)) - set(self.EXECUTION_KEYS)
        return sorted(k for k in keys if mine.get(k) != theirs.get(k))
