"""The one strict configuration mechanism of the experiments."""
from dataclasses import dataclass, field

import pytest

from kgml_core.config import ExperimentConfig
from kgml_core.training.trainer import StepConfig


@dataclass
class _Cfg(ExperimentConfig):
    states: tuple[str, ...] = ("IA",)
    seed: int = 0
    rate: float = 0.5
    n: int | None = None
    names: tuple[str, ...] = ("a",)
    step: StepConfig = field(default_factory=StepConfig)
    flag: bool = True
    preset: str = "quick"

    def check(self) -> None:
        if self.rate > 1:
            raise ValueError(f"rate must be <= 1, got {self.rate}")


_Cfg.PRESETS = {"quick": {}, "tiny": {"rate": 0.1, "step": StepConfig(epochs=1)}}


def test_values_take_their_declared_types():
    cfg = _Cfg.from_dict({"states": ["il"], "rate": 1, "n": 3, "step": {"epochs": 2}})
    assert cfg.states == ("IL",) and cfg.rate == 1.0 and isinstance(cfg.rate, float)
    assert cfg.step == StepConfig(epochs=2) and _Cfg.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("data, message", [
    ({"colour": 1}, r"unknown experiment config keys \['colour'\]"),
    ({"step": {"epoch": 2}}, r"unknown experiment config.step keys \['epoch'\]"),
    ({"seed": 1.5}, "seed must be int"), ({"seed": -1}, "seed must be >= 0"),
    ({"flag": "yes"}, "flag must be bool"), ({"names": "abc"}, "names must be a list"),
    ({"rate": float("nan")}, "finite"), ({"rate": 2.0}, "rate must be <= 1"),
    ({"states": ["ZZ"]}, "unknown state 'ZZ'")])
def test_bad_settings_are_named(data, message):
    with pytest.raises(ValueError, match=message):
        _Cfg.from_dict(data)


def test_presets_and_dotted_settings():
    tiny = _Cfg.from_preset("tiny", seed=4)
    assert (tiny.preset, tiny.rate, tiny.seed, tiny.step.epochs) == ("tiny", 0.1, 4, 1)
    assert _Cfg.preset_names() == ["quick", "tiny"]
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        _Cfg.from_preset("huge")
    assert tiny.with_settings({"step.lr": 0.5}).step.lr == 0.5
    with pytest.raises(ValueError, match="unknown experiment config key 'step.bogus'"):
        tiny.with_settings({"step.bogus": 1})


def test_command_line_text_is_parsed_by_type():
    cfg = _Cfg()
    assert cfg.parse_setting("states", "IL,IA") == ("IL", "IA")
    assert cfg.parse_setting("n", "null") is None and cfg.parse_setting("n", "4") == 4
    assert cfg.parse_setting("step.lr", "0.01") == 0.01 and cfg.parse_setting("flag", "False") is False
    with pytest.raises(ValueError, match=r"unknown experiment config key 'PRESETS'; known: \['flag', 'n'"):
        cfg.parse_setting("PRESETS", "{}")
    with pytest.raises(ValueError, match="cannot read 'x' as int"):
        cfg.parse_setting("seed", "x")
    assert cfg.differences({**cfg.to_dict(), "threads": 9}) == []
    assert cfg.differences({**cfg.to_dict(), "seed": 9}) == ["seed"]
