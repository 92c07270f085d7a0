"""benchmarks/bench_kgml.py --combine: seeds saved by separate runs read back as one set."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_kgml.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_kgml", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _saved(path: Path, seeds: dict) -> str:
    path.write_text(json.dumps({str(s): {"ceiling": {}, "seconds": w} for s, w in seeds.items()}))
    return str(path)


def test_combine_joins_the_seeds_of_several_files(bench, tmp_path):
    results = bench.combined([_saved(tmp_path / "a.json", {0: 10.0}), _saved(tmp_path / "b.json", {2: 30.0, 1: 20.0})])
    assert sorted(results) == [0, 1, 2]
    assert results[2]["seconds"] == 30.0


def test_combine_refuses_a_seed_saved_twice_and_names_both_files(bench, tmp_path):
    a, b = _saved(tmp_path / "a.json", {1: 10.0}), _saved(tmp_path / "b.json", {1: 11.0})
    with pytest.raises(SystemExit, match=r"seed 1 is in both .*a\.json and .*b\.json"):
        bench.combined([a, b])


def test_combine_names_a_file_that_is_not_a_saved_run(bench, tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"0": {"rmse": 1.0}}))
    with pytest.raises(SystemExit, match="other.json is not a file written by --json"):
        bench.combined([str(other)])
    with pytest.raises(SystemExit, match="cannot read .*missing.json"):
        bench.combined([str(tmp_path / "missing.json")])


def test_set_given_twice_keeps_every_override(bench):
    args = bench.build_parser().parse_args(["--set", 'step4_world="regional"', "--set", "hidden=48", "warmup=30"])
    assert args.set == ['step4_world="regional"', "hidden=48", "warmup=30"]
    assert bench.build_parser().parse_args([]).set == []
