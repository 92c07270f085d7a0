"""One name and one colour per model, state and flux, the same everywhere."""
from kgml_core import geo, labels


def test_every_state_has_its_own_colour_and_name():
    colours = {labels.state_colour(s) for s in geo.CONUS_STATES}
    assert len(colours) == len(geo.CONUS_STATES)
    assert labels.state_name("IA") == "Iowa" and labels.colour("IA") == labels.state_colour("IA")
    assert labels.state_colour("ia") == labels.state_colour("IA")


def test_the_ladder_has_distinct_colours_and_human_names():
    ladder = ["process_model", "no_knowledge", "global", "state_specific", "auto_region"]
    assert len({labels.model_colour(m) for m in ladder}) == len(ladder)
    assert labels.model_name("state_specific") == "State-specific SDSA-KGML"
    assert labels.model_name("global", short=True) == "Global"
    assert labels.model_name("something_new") == "something_new"
    assert all(c.startswith("#") and len(c) == 7 and not c.startswith("#0000") for c in labels.MODEL_COLOURS.values())


def test_unknown_keys_get_a_stable_colour_and_colour_map_keeps_them_apart():
    assert labels.colour("region 1") == labels.colour("region 1")
    cmap = labels.colour_map(["region 1", "region 2", "region 3"])
    assert len(set(cmap.values())) == 3


def test_glossary_spells_out_codes_and_periods_have_names():
    assert labels.describe("KSAT") == "KSAT: saturated hydraulic conductivity (mm h-1)"
    assert labels.describe("VPD_GS").startswith("VPD_GS: growing-season mean vapour pressure deficit")
    assert labels.period_name("JJA") == "summer (June-August)" and labels.period_name("Jul") == "July"


def test_yield_factor_matches_the_nass_conversion():
    # 180 bu/acre of corn is 429.6 g C m-2 of grain carbon (25.4 kg/bu, 15.5 % moisture, 45 % carbon)
    assert abs(429.6 * labels.yield_bu_per_acre_factor() - 180) < 0.1
