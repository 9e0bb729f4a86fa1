"""Single-time-point dosimetry of a study with one quantitative SPECT (dosimetry.single_time_point).

Per VOI (the VOIs of study_dose, with the kidneys' union when both sides are given): the
activity at the one time point, its concentration, and the dose by
- Hänscheid 2018 (kidney VOIs only: a kidney formula with a kidney constant), and
- Madsen 2018 (every VOI: kidneys with the mass-scaled kidney S-value, other VOIs with local
  deposition and the VOI mass, as study_dose's organ-level dose),
both with the one effective half-life given (the patient's earlier cycles, the cohort, or entered;
``t_eff_source`` says which).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from prrt_core import dicom
from prrt_core.dicom.study_dose import KIDNEY_ORGANS, _with_kidneys
from prrt_core.dosimetry.single_time_point import MAX_T_EFF_H, hanscheid_2018_dose_gy, madsen_2018_dose_gy
from prrt_core.dosimetry.voxel import TISSUE_DENSITY_G_PER_ML, voi_time_activity
from prrt_core.errors import InputError

COLUMNS = ("voi", "organ", "label", "n_voxels", "volume_ml", "mass_g", "time_h", "concentration_mbq_per_ml",
           "activity_mbq", "t_eff_h", "hanscheid_dose_gy", "madsen_dose_gy")


class StpMethod(StrEnum):
    """A single-time-point method: its column of SingleTimePointDosimetry.organs and its stored label."""

    HANSCHEID = "hanscheid"
    MADSEN = "madsen"

    @property
    def column(self) -> str:
        return {"hanscheid": "hanscheid_dose_gy", "madsen": "madsen_dose_gy"}[self.value]

    @property
    def label(self) -> str:
        """The dosimetry.method of a stored dose."""
        return {"hanscheid": "single-time-point (Hänscheid 2018)", "madsen": "single-time-point (Madsen 2018)"}[
            self.value]


@dataclass(frozen=True, eq=False)
class SingleTimePointDosimetry:
    """Single-time-point dosimetry of one cycle: one row per VOI (COLUMNS; Gy, MBq, mL, g, h).

    hanscheid_dose_gy is NaN for VOIs that are not kidneys. t_eff_source says where t_eff_h came
    from (e.g. "T_eff from the patient's earlier cycles (n = 3): 52.1 h").
    """

    study: dicom.DicomStudy
    organs: pd.DataFrame
    t_eff_source: str
    density_g_per_ml: float = TISSUE_DENSITY_G_PER_ML

    def organ_dose(self, organ: str, method: StpMethod | str = StpMethod.MADSEN) -> float:
        """The dose of one organ (first VOI of that organ) by ``method``, Gy; NaN when absent."""
        rows = self.organs[self.organs["organ"] == organ]
        return float(rows[StpMethod(method).column].iloc[0]) if len(rows) else float("nan")


def compute_single_time_point(study: dicom.DicomStudy, t_eff_h: float, t_eff_source: str,
                              density_g_per_ml: float = TISSUE_DENSITY_G_PER_ML) -> SingleTimePointDosimetry:
    """Hänscheid and Madsen doses of every VOI of a study with exactly one SPECT time point.

    t_eff_h: effective half-life, 0 < T_eff <= 159.528 h; t_eff_source: where it came from (shown
    and stored with the result); density_g_per_ml: VOI volume -> mass. InputError when the study
    has no or several time points, T_eff is out of range, or a VOI holds no activity.
    """
    points = study.time_points
    if len(points) != 1:
        why = ("no SPECT time point (an RTDOSE alone)" if not points else
               f"{len(points)} SPECT time points: use voxel dosimetry, which fits their time-activity curve")
        raise InputError(f"single-time-point dosimetry needs exactly one SPECT time point; the study has {why}")
    try:
        t_eff = float(t_eff_h)
    except (TypeError, ValueError) as exc:
        raise InputError(f"t_eff_h: {t_eff_h!r} is not a number ({t_eff_source})") from exc
    if not (math.isfinite(t_eff) and 0 < t_eff <= MAX_T_EFF_H):
        raise InputError(f"t_eff_h: {t_eff_h!r} h ({t_eff_source}) is not in 0 < T_eff <= {MAX_T_EFF_H:.3f} h "
                         "(the Lu-177 physical half-life)")
    if not (math.isfinite(density_g_per_ml) and density_g_per_ml > 0):
        raise InputError(f"density_g_per_ml must be finite and > 0, got {density_g_per_ml!r}")
    tp, time_h = points[0], float(study.times_h[0])
    vois = _with_kidneys(study.vois)
    masks = {name: mask for name, (_, _, mask) in vois.items()}
    organs = pd.DataFrame({"voi": list(vois), "organ": [o for o, _, _ in vois.values()],
                           "label": [lab for _, lab, _ in vois.values()]})
    voxel_ml = study.geometry.voxel_volume_ml
    organs["n_voxels"] = [int(m.sum()) for m in masks.values()]
    organs["volume_ml"] = organs["n_voxels"] * voxel_ml
    organs["mass_g"] = organs["volume_ml"] * density_g_per_ml
    organs["time_h"] = time_h
    activity = voi_time_activity([tp.activity_bq_per_ml], masks, voxel_ml)[:, 0]
    for name, value, n_voxels in zip(masks, activity, organs["n_voxels"]):
        if n_voxels == 0 or not value > 0:
            raise dicom.DicomError(tp.source, None, f"VOI '{name}' holds no activity ({value:.3g} MBq in {n_voxels} "
                                   f"voxels) at {time_h:.1f} h: check the VOI and its registration to the SPECT")
    organs["concentration_mbq_per_ml"] = activity / organs["volume_ml"].to_numpy()
    organs["activity_mbq"] = activity
    organs["t_eff_h"] = t_eff
    kidney = organs["organ"].isin(KIDNEY_ORGANS).to_numpy()
    hanscheid = hanscheid_2018_dose_gy(organs["concentration_mbq_per_ml"].to_numpy(), time_h, t_eff)
    organs["hanscheid_dose_gy"] = np.where(kidney, hanscheid, np.nan)
    organs["madsen_dose_gy"] = madsen_2018_dose_gy(activity, time_h, t_eff, organs["mass_g"].to_numpy(), kidney=kidney)
    return SingleTimePointDosimetry(study, organs[list(COLUMNS)], t_eff_source, density_g_per_ml)
