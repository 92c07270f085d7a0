"""Check the simulated world against real data and draw the comparison figures.

* county corn yields of the observed world (IL, IA, IN, 2012-2021) against NASS
  Quick Stats county yields (state means, spread, north-south gradient, years);
* the simulated maize GPP season against the US-Ne1 flux tower (Mead, Nebraska);
* annual sums against the magnitudes in SCIENCE.md.

Usage: ``python benchmarks/validate_simulator.py [--out docs/img]``. Prints the
figures as numbers; writes ``simulator_*.png``. Needs ``kgml_core.settings.data_dir()``.
"""
from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from kgml_core import settings  # noqa: E402
from kgml_core.simulator import WorldConfig, load_world, simulate_observations  # noqa: E402
from kgml_core.simulator.world import run_points  # noqa: E402
from kgml_core.simulator.parameters import default_parameters  # noqa: E402
from kgml_core.simulator.soils import soil_properties  # noqa: E402

# 1 bu of corn = 25.40 kg at 15.5 % moisture; 45 % of dry matter is carbon; 1 acre = 4046.86 m2
G_C_PER_BU_ACRE = 25.40 * 0.845 * 0.45 / 4046.86 * 1000
NASS_FILE = "nass/nass_county_corn_grain_yield_bu_acre_US_2012-2021_quickstats.csv"
NE1_FILE = "fluxnet/FLX_US-Ne1_FLUXNET2015_SUBSET_DD_2001-2013_1-4.csv"
STATES = {"ILLINOIS": "IL", "IOWA": "IA", "INDIANA": "IN"}


def read_nass_county_yields(path: Path) -> pd.DataFrame:
    """County corn yields from a raw Quick Stats export: columns fips, state, year, yield_bu."""
    raw = pd.read_csv(path, dtype=str)
    needed = {"Year", "State", "State ANSI", "County ANSI", "Value"}
    missing = needed - set(raw.columns)
    if missing:
        raise ValueError(f"{path}: missing Quick Stats columns {sorted(missing)}")
    raw = raw[raw["State"].isin(STATES) & raw["County ANSI"].notna()]
    value = pd.to_numeric(raw["Value"].str.replace(",", ""), errors="coerce")
    out = pd.DataFrame({
        "fips": raw["State ANSI"].str.zfill(2) + raw["County ANSI"].str.zfill(3),
        "state": raw["State"].map(STATES), "year": raw["Year"].astype(int), "yield_bu": value})
    return out.dropna()


def read_ne1(path: Path) -> pd.DataFrame:
    """US-Ne1 daily GPP (night-time partitioning), -9999 as missing, indexed by date."""
    raw = pd.read_csv(path, usecols=["TIMESTAMP", "GPP_NT_VUT_REF", "NEE_VUT_REF", "RECO_NT_VUT_REF"])
    raw = raw.replace(-9999, np.nan)
    raw.index = pd.to_datetime(raw.pop("TIMESTAMP").astype(str), format="%Y%m%d")
    return raw.rename(columns={"GPP_NT_VUT_REF": "GPP", "NEE_VUT_REF": "NEE", "RECO_NT_VUT_REF": "RECO"})


def season_metrics(gpp: pd.Series) -> dict[str, float]:
    """Peak (95th percentile of daily GPP), green-up and senescence day-of-year (GPP crosses 30 % of peak)."""
    clim = gpp.groupby(gpp.index.day_of_year).mean().rolling(11, center=True, min_periods=1).mean()
    peak = float(clim.max())
    above = clim.index[clim >= 0.3 * peak]
    return {"peak_daily": float(gpp.quantile(0.99)), "peak_clim": peak,
            "greenup_doy": float(above.min()), "senescence_doy": float(above.max()),
            "annual": float(gpp.groupby(gpp.index.year).sum().median())}


def compare_yields(out: Path) -> dict:
    path = settings.data_dir() / NASS_FILE
    if not path.exists():
        print(f"skip yields: {path} not found")
        return {}
    nass = read_nass_county_yields(path)
    yields, _ = simulate_observations(WorldConfig(years=(2012, 2021)), sites_per_state=1)
    sim = yields[["YIELD", "CROP"]].to_dataframe().reset_index()
    sim = sim[sim["CROP"] == 0]
    sim["yield_bu"] = sim["YIELD"] / G_C_PER_BU_ACRE
    sim["lat"] = yields["lat"].to_series().reindex(sim["unit"]).values
    sim["state"] = yields["state"].to_series().reindex(sim["unit"]).values
    lat = yields["lat"].to_series()
    nass["lat"] = lat.reindex(nass["fips"]).values
    res = {}
    print("\ncorn yield, bu/acre, 2012-2021     NASS mean  sim mean  diff%   NASS sd  sim sd")
    for st in ("IA", "IL", "IN"):
        a, b = nass[nass.state == st]["yield_bu"], sim[sim.state == st]["yield_bu"]
        res[st] = (a.mean(), b.mean(), a.std(), b.std())
        print(f"  {st}                               {a.mean():8.1f}  {b.mean():8.1f}  "
              f"{100 * (b.mean() / a.mean() - 1):+5.1f}  {a.std():8.1f}  {b.std():6.1f}")
    ny = nass.groupby("year")["yield_bu"].mean()
    sy = sim.groupby("year")["yield_bu"].mean()
    print("  by year NASS:", ny.round(0).to_dict())
    print("  by year sim :", sy.round(0).to_dict())
    ns = np.polyfit(nass.dropna()["lat"], nass.dropna()["yield_bu"], 1)[0]
    ss = np.polyfit(sim["lat"], sim["yield_bu"], 1)[0]
    print(f"  north-south slope (bu/acre per degree latitude): NASS {ns:+.1f}, sim {ss:+.1f}")
    _plot_yields(nass, sim, ny, sy, res, out)
    return res


def _plot_yields(nass, sim, ny, sy, res, out: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    bins = np.linspace(0, 260, 40)
    axes[0].hist(nass["yield_bu"], bins, alpha=0.5, density=True, label="NASS counties")
    axes[0].hist(sim["yield_bu"], bins, alpha=0.5, density=True, label="simulated (observed world)")
    axes[0].set_xlabel("corn yield (bu/acre), IL+IA+IN 2012-2021")
    axes[0].legend(fontsize=8)
    axes[1].plot(ny.index, ny.values, "o-", label="NASS")
    axes[1].plot(sy.index, sy.values, "s-", label="simulated")
    axes[1].set_ylabel("mean county corn yield (bu/acre)")
    axes[1].legend(fontsize=8)
    for df, m, lab in ((nass, "o", "NASS"), (sim, "s", "simulated")):
        g = df.assign(band=(df["lat"] // 0.5) * 0.5).groupby("band")["yield_bu"].mean()
        axes[2].plot(g.index, g.values, m + "-", label=lab)
    axes[2].set_xlabel("latitude (degrees N)")
    axes[2].set_ylabel("mean corn yield (bu/acre)")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "simulator_yields_vs_nass.png", dpi=110)
    plt.close(fig)


def compare_ne1(out: Path) -> dict:
    path = settings.data_dir() / NE1_FILE
    if not path.exists():
        print(f"skip US-Ne1: {path} not found")
        return {}
    obs = read_ne1(path)
    lat, lon = np.array([41.1651]), np.array([-96.4766])
    soils = soil_properties(lat, lon, 0)
    years = (2002, 2011)
    crop = np.zeros((1, years[1] - years[0] + 2), np.int8)  # continuous maize like US-Ne1
    params = default_parameters(1)
    drivers, res = run_points(lat, lon, soils, params, crop, years, seed=0)
    time = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31")
    sim = pd.Series(res.daily["GPP"][0], index=time)
    o = obs["GPP"][(obs.index.year >= years[0]) & (obs.index.year <= years[1])]
    mo, ms = season_metrics(o), season_metrics(sim)
    print("\nmaize GPP season         US-Ne1    simulated (same lat/lon, continuous maize)")
    for k in mo:
        print(f"  {k:16s}  {mo[k]:9.1f}  {ms[k]:9.1f}")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for s, lab in ((o, "US-Ne1 (FLUXNET2015, GPP_NT_VUT_REF)"), (sim, "simulated maize")):
        clim = s.groupby(s.index.day_of_year)
        ax.plot(clim.mean().index, clim.mean().values, label=lab)
        ax.fill_between(clim.mean().index, clim.quantile(0.1).values, clim.quantile(0.9).values, alpha=0.2)
    ax.set_xlabel("day of year")
    ax.set_ylabel("GPP (g C m-2 d-1), mean and 10-90 %")
    ax.set_title(f"maize GPP season, {years[0]}-{years[1]}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "simulator_gpp_vs_us_ne1.png", dpi=110)
    plt.close(fig)
    return {"obs": mo, "sim": ms}


def annual_magnitudes(out: Path) -> dict:
    ds = load_world(WorldConfig(years=(2000, 2019)))
    annual = ds[["GPP", "RA", "RH", "NEE"]].groupby("time.year").sum()
    crop = ds["CROP"]
    print("\nannual sums (g C m-2 yr-1), median over counties and years    corn     soybean")
    res = {}
    for k in ("GPP", "RA", "RH", "NEE"):
        corn = float(annual[k].where(crop == 0).median())
        soy = float(annual[k].where(crop == 1).median())
        res[k] = (corn, soy)
        print(f"  {k:4s}                                                     {corn:7.0f}  {soy:7.0f}")
    soy_bu = ds["YIELD"].where(crop == 1) / (27.22 * 0.87 * 0.45 / 4046.86 * 1000)
    corn_bu = ds["YIELD"].where(crop == 0) / G_C_PER_BU_ACRE
    print(f"  yield 2000-2019: corn {float(corn_bu.mean()):.0f} bu/acre, soybean {float(soy_bu.mean()):.0f} bu/acre")
    ra_share = float((annual["RA"] / annual["GPP"]).median())
    peak = ds["GPP"].groupby("time.year").max()
    print(f"  Ra/GPP median {ra_share:.2f}; peak daily GPP corn {float(peak.where(crop == 0).median()):.1f}, "
          f"soybean {float(peak.where(crop == 1).median()):.1f}")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    unit = ds["unit"].values[0]
    d = ds.sel(unit=unit, time=slice("2011-01-01", "2013-12-31"))
    for k in ("GPP", "RA", "RH", "NEE"):
        axes[0].plot(d["time"].values, d[k].values, lw=0.8, label=k)
    axes[0].set_ylabel("g C m-2 d-1")
    axes[0].set_title(f"county {unit}: daily fluxes 2011-2013")
    axes[0].legend(fontsize=8, ncol=4)
    m = annual.mean("year")
    sc = axes[1].scatter(ds["lon"], ds["lat"], c=m["RH"], s=18, cmap="viridis")
    plt.colorbar(sc, ax=axes[1], label="mean annual Rh (g C m-2 yr-1)")
    axes[1].set_title("true Rh of the observed world (location-dependent parameters)")
    fig.tight_layout()
    fig.savefig(out / "simulator_fluxes.png", dpi=110)
    plt.close(fig)
    return res


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(settings.REPO_ROOT / "docs" / "img"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    compare_yields(out)
    compare_ne1(out)
    annual_magnitudes(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
