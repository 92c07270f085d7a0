"""The real-data world and the real-yields experiment (tiny preset), on files the tests build and on the real Iowa files."""
import numpy as np
import pandas as pd
import pytest

from kgml_core import experiments, geo, schema
from kgml_core.experiments.real_yields.data import pick_inputs, write_inputs
from kgml_core.loaders import load_file
from kgml_core.loaders.nass import bu_per_acre_to_g_c
from kgml_core.loaders.uses import uses
from kgml_core.runs import RunStore
from kgml_core.simulator.real import real_world
from kgml_core.simulator.weather import generate_weather

COUNTIES = ("19169", "19015", "19127", "19099", "19157", "19079")


def _weather_table(path, years=(2017, 2019)):
    """An HRRR-like county table (K, kg m**-2, W m**-2, kPa) from the simulator's weather generator."""
    table = geo.select_counties(COUNTIES)
    dates = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31", freq="D")
    w = generate_weather(table["lat"].values, table["lon"].values, dates, seed=3)
    rows = []
    for i, fips in enumerate(table.index):
        rows.append(pd.DataFrame({"fips": fips, "date": dates.strftime("%Y-%m-%d"),
                                  "Avg Temperature (K)": w["TA"][i] + 273.15, "Max Temperature (K)": w["TA_MAX"][i] + 273.15,
                                  "Min Temperature (K)": w["TA_MIN"][i] + 273.15, "Precipitation (kg m**-2)": w["P"][i],
                                  "Relative Humidity (%)": (w["RH_MAX"][i] + w["RH_MIN"][i]) / 2,
                                  "Wind Speed (m s**-1)": w["WS"][i],
                                  "Downward Shortwave Radiation Flux (W m**-2)": w["SW_IN"][i] * 24,  # Wh m-2 d-1
                                  "Vapor Pressure Deficit (kPa)": w["VPD"][i] / 10}))
    pd.concat(rows).to_csv(path, index=False, float_format="%.3f")
    return path, w, table


def _yields_table(path, table, years=(2017, 2019)):
    g = np.random.default_rng(0)
    rows = [f"CORN,{y},{f},{180 + 10 * np.sin(i + y) + g.normal(0, 5):.1f}"
            for i, f in enumerate(table.index) for y in range(years[0], years[1] + 1)]
    rows[1] = rows[1].rsplit(",", 1)[0] + ",0"  # a placeholder zero: excluded, not learned from
    path.write_text("commodity,year,fips,yield_bu_per_acre\n" + "\n".join(rows) + "\n")
    return path


def test_real_world_runs_the_process_model_on_the_given_weather(tmp_path):
    path, w, table = _weather_table(tmp_path / "weather.csv")
    weather = load_file(path)
    weather["TA"][0, 10:13] = np.nan  # a gap: interpolated, counted
    soils = schema.empty_units([COUNTIES[0]], [42.0], [-93.5], "IA", "county")
    schema.set_variable(soils, "SAND", [55.0], provenance="test grid")
    world = real_world(weather, soils)
    assert world.sizes["unit"] == 6 and world.sizes["year"] == 3 and world.attrs["data_source"] == "real weather"
    assert np.allclose(world.TA_MAX.values, weather.TA_MAX.values, atol=2e-3)  # real drivers, unchanged
    assert 0 < world.TA.attrs["filled_fraction"] < 0.001 and "Tetens" in world.RH_MAX.attrs["provenance"]
    assert world.SAND.sel(unit=COUNTIES[0]).item() == 55.0 and "test grid" in world.SAND.attrs["provenance"]
    bu = world.YIELD.values / bu_per_acre_to_g_c(1.0, "CORN")
    assert np.isfinite(bu).all() and 80 < bu.mean() < 320 and (world.CROP.values == 0).all()
    schema.validate(world)


def test_real_yields_experiment_on_built_files(tmp_path):
    wpath, _, table = _weather_table(tmp_path / "weather.csv")
    ypath = _yields_table(tmp_path / "tidy.csv", table)
    exp = experiments.get("real_yields")
    cfg = exp.config("tiny", weather=str(wpath), yields=str(ypath), years=(2017, 2019), test_years=1,
                     test_fraction=0.34, n_boot=20)
    run = exp.execute(cfg, RunStore(tmp_path / "runs"))
    m = run.metrics()
    assert run.status == "finished" and m["data_source"] == "real" and m["n_counties"] == 6
    assert set(m["scores"]["heldout"]) == {"county_mean", "weather_linear", "process_model", "global", "auto_region"}
    held = m["scores"]["heldout"]["global"]
    # 2 held-out counties x 3 years + 4 other counties x 1 held-out year (the placeholder zero is not a real yield)
    assert held["n"] == 10 and np.isfinite(held["rmse_bu"]) and "global" not in m["bootstrap"]["heldout"]
    pred = run.predictions()
    assert pred.attrs["data_source"] == "real" and pred["YIELD"].dims == ("model", "unit", "year")
    assert experiments.data_source(run.kind) == "real data"
    assert "County mean yield" in exp.summary(m) and m["headline"]["best_baseline"] in ("county_mean", "weather_linear")


def test_loaded_data_become_job_inputs_and_say_what_they_are_for(tmp_path):
    wpath, _, table = _weather_table(tmp_path / "weather.csv", years=(2017, 2017))
    weather = load_file(wpath)
    yields = load_file(_yields_table(tmp_path / "tidy.csv", table, years=(2017, 2017)))
    assert any("drives the process model" in u for u in uses(weather))
    assert any("county yields" in u for u in uses(yields))
    picked = pick_inputs({"hrrr": weather, "nass": yields})
    assert {k: v[0] for k, v in picked.items()} == {"weather": "hrrr", "yields": "nass"}
    paths = write_inputs(picked, tmp_path / "inputs")
    again = load_file(paths["weather"])
    assert again.sizes == weather.sizes and np.allclose(again.TA.values, weather.TA.values, equal_nan=True)
    assert write_inputs(picked, tmp_path / "inputs") == paths  # named by content: written once


def test_real_iowa_files_tiny(real_data_dir, tmp_path):
    exp = experiments.get("real_yields")
    run = exp.execute(exp.config("tiny", n_boot=20), RunStore(tmp_path))
    m = run.metrics()
    assert m["n_counties"] == 35 and m["train_years"] == [2017, 2018, 2019, 2020] and m["test_years"] == [2021]
    assert m["sources"]["weather"].startswith("hrrr_daily_county_mean_iowa35")
    n = m["scores"]["heldout"]["county_mean"]["n"]
    assert 50 < n < 100 and all(s["n"] == n for s in m["scores"]["heldout"].values())
