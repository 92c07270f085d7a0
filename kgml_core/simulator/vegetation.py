"""Vegetation types of the simulator and their traits (corn/soybean crops and natural vegetation)."""
from __future__ import annotations

import numpy as np

# vegetation codes
CROP, GRASS, DECIDUOUS, EVERGREEN, SHRUB = 0, 1, 2, 3, 4
# natural vegetation traits by code: LAI_max, LAI_min fraction, extinction k, water-limited
NATURAL = {
    GRASS: (2.6, 0.10, 0.5, True),
    DECIDUOUS: (5.0, 0.0, 0.5, False),
    EVERGREEN: (4.5, 0.75, 0.5, False),
    SHRUB: (1.4, 0.25, 0.5, True),
}
# crop traits, index 0 corn, 1 soybean
CROP_TRAITS = {
    "lai_max": np.array([5.6, 5.0], np.float32),
    "k": np.array([0.55, 0.60], np.float32),
    "t_card": np.array([[8.0, 20.0, 32.0, 42.0], [5.0, 18.0, 30.0, 40.0]], np.float32),
    "sow_doy": np.array([110.0, 128.0], np.float32),
    "sow_temp": np.array([10.0, 12.0], np.float32),
    "gdd_emerge": np.array([80.0, 70.0], np.float32),
    "gdd_share": np.array([0.93, 0.80], np.float32),
    "flower": np.array([[0.45, 0.70], [0.50, 0.80]], np.float32),
}
