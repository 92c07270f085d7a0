import json

from kgml_core.cli import main
from tests.shift.conftest import make_world


def test_shift_cli_on_netcdf(tmp_path):
    nc = tmp_path / "world.nc"
    make_world(states=("IL", "IA", "IN"), units_per_state=6, years=1, ta_shift={"IN": 3.0}).to_netcdf(nc)
    out = tmp_path / "shift.json"
    code = main(["shift", "--states", "IL", "IA", "IN", "--input", str(nc), "--out", str(out),
                 "--permutations", "9"])
    assert code == 0
    d = json.loads(out.read_text())
    assert [(p["group_a"], p["group_b"]) for p in d["pairs"]] == [("IL", "IA"), ("IL", "IN"), ("IA", "IN")]
    assert all({"mmd2", "p_value", "auc", "variables"} <= set(p) for p in d["pairs"])
    assert d["meta"]["source"] == str(nc)


def test_shift_cli_bad_input(tmp_path, capsys):
    assert main(["shift", "--input", str(tmp_path / "missing.nc"), "--out", str(tmp_path / "x.json")]) == 2
    assert "missing.nc" in capsys.readouterr().err
    nc = tmp_path / "world.nc"
    make_world(units_per_state=3, years=1).to_netcdf(nc)
    assert main(["shift", "--states", "IL", "IA", "--input", str(nc), "--out", str(tmp_path / "x.json")]) == 2
    assert "no unit in states" in capsys.readouterr().err
