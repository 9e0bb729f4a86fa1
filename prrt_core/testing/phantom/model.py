"""The phantom's model and its known answer: grid, structures, clearance, and analytic doses.

Two kidneys (ellipsoids) and a lesion (sphere) in a body of low background uptake, each
with a uniform activity concentration that clears mono-exponentially,
C(t) = C0 exp(-ln2 t / T_eff). Every voxel whose centre lies inside a structure belongs to it
(a structure listed later wins). The expected local-deposition dose of a structure is then
analytic: D = C0 T_eff / ln2 x Delta / rho (dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H), and the
organ-level S-value dose is TIA x S(m) with TIA = C0 V T_eff / ln2 and m = V rho.

The phantom has no resolution loss (no partial-volume effect): it checks the arithmetic,
units, times and geometry of the pipeline, not recovery coefficients.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

import numpy as np

from prrt_core import dosimetry
from prrt_core.dicom.geometry import Geometry, geometry_from_planes

UID_ROOT = "1.2.826.0.1.3680043.10.1456."  # prefix for generated UIDs (pydicom's generate_uid)


@dataclass(frozen=True)
class Structure:
    """An ellipsoid (a sphere when the semi-axes are equal) of uniform uptake, LPS mm."""

    name: str
    organ: str
    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    c0_mbq_per_ml: float  # concentration extrapolated to injection
    t_eff_h: float

    @property
    def lambda_per_h(self) -> float:
        return math.log(2.0) / self.t_eff_h


@dataclass(frozen=True)
class Phantom:
    """Grid, structures, times and injection of the synthetic series."""

    shape: tuple[int, int, int] = (40, 64, 64)  # slices, rows, columns
    spacing_mm: float = 4.8
    structures: tuple[Structure, ...] = (
        # Patient left is +x in DICOM LPS: the left kidney sits at x > 0. The two kidneys differ
        # in concentration and T_eff so that a left/right swap cannot pass unnoticed.
        Structure("Kidney left", "kidney_left", (72.0, 40.0, 0.0), (28.0, 24.0, 50.0), 0.60, 45.0),
        Structure("Kidney right", "kidney_right", (-72.0, 40.0, 0.0), (28.0, 24.0, 50.0), 0.75, 55.0),
        Structure("Lesion 1", "tumour", (-10.0, -20.0, 40.0), (15.0, 15.0, 15.0), 2.5, 80.0),
    )
    body_semi_axes_mm: tuple[float, float] = (140.0, 100.0)
    background_c0_mbq_per_ml: float = 0.01
    background_t_eff_h: float = 30.0
    times_h: tuple[float, ...] = (4.0, 24.0, 48.0, 96.0, 168.0)
    injection_time: dt.datetime = dt.datetime(2024, 3, 4, 9, 30, 0)
    activity_mbq: float = 7400.0
    frame_of_reference_uid: str = UID_ROOT + "1"
    study_uid: str = UID_ROOT + "2"

    # --- geometry and truth ------------------------------------------------------
    @property
    def origin_mm(self) -> np.ndarray:
        """Centre of voxel (0, 0, 0): the grid is centred on the patient origin."""
        return -0.5 * (np.array(self.shape[::-1], dtype=float) - 1.0) * self.spacing_mm  # (x, y, z)

    def geometry(self) -> Geometry:
        x0, y0, z0 = self.origin_mm
        return geometry_from_planes((x0, y0, z0), (1, 0, 0), (0, 1, 0), (self.spacing_mm,) * 2,
                                    self.spacing_mm, *self.shape, self.frame_of_reference_uid)

    def axes_mm(self, zoom: int = 1):
        """Voxel-centre coordinates along x, y, z of the grid refined ``zoom`` times (odd)."""
        step = self.spacing_mm / zoom
        off = (zoom - 1) // 2
        return [o - off * step + step * np.arange(n * zoom) for o, n in zip(self.origin_mm, self.shape[::-1])]

    def labels(self, zoom: int = 1) -> np.ndarray:
        """0 outside the body, 1 body background, 2 + i inside structure i; (z, y, x) array."""
        x, y, z = self.axes_mm(zoom)
        zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
        out = np.where((xx / self.body_semi_axes_mm[0]) ** 2 + (yy / self.body_semi_axes_mm[1]) ** 2 <= 1.0, 1, 0)
        for i, s in enumerate(self.structures):
            (cx, cy, cz), (ax, ay, az) = s.centre_mm, s.semi_axes_mm
            inside = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 + ((zz - cz) / az) ** 2 <= 1.0
            out = np.where(inside, 2 + i, out)
        return out.astype(np.int16)

    def masks(self) -> dict[str, np.ndarray]:
        labels = self.labels()
        return {s.name: labels == 2 + i for i, s in enumerate(self.structures)}

    def _parameters(self):
        c0 = np.array([0.0, self.background_c0_mbq_per_ml] + [s.c0_mbq_per_ml for s in self.structures])
        lam = np.array([1.0, math.log(2.0) / self.background_t_eff_h] + [s.lambda_per_h for s in self.structures])
        return c0, lam

    def activity_bq_per_ml(self, t_h: float) -> np.ndarray:
        """Activity concentration at t_h after injection, Bq/mL, (z, y, x) float64."""
        c0, lam = self._parameters()
        return (c0 * np.exp(-lam * t_h) * 1.0e6)[self.labels()]

    def structure(self, name: str) -> Structure:
        return next(s for s in self.structures if s.name == name)

    def expected_dose_gy(self, name: str, density_g_per_ml: float) -> float:
        """Local-deposition dose of a uniform structure: C0 / lambda x Delta / rho, Gy."""
        s = self.structure(name)
        return s.c0_mbq_per_ml / s.lambda_per_h * dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H / density_g_per_ml

    def expected_dose_map_gy(self, density_g_per_ml: float) -> np.ndarray:
        c0, lam = self._parameters()
        return (c0 / lam * dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H / density_g_per_ml)[self.labels()]

    def expected_kidney_s_value_dose_gy(self, name: str, density_g_per_ml: float) -> float:
        """Organ-level kidney dose TIA x S(m) with the voxelised volume V: TIA = C0 V / lambda, m = V rho."""
        s = self.structure(name)
        volume_ml = float(self.masks()[name].sum()) * (self.spacing_mm / 10.0) ** 3
        tia = s.c0_mbq_per_ml * volume_ml / s.lambda_per_h
        return float(dosimetry.kidney_dose_s_value_gy(tia, volume_ml * density_g_per_ml))


def default_phantom(**changes) -> Phantom:
    """The default phantom with some fields replaced (``dataclasses.replace``)."""
    return replace(Phantom(), **changes)
