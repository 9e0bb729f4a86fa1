"""Dosimetry of one cycle's DICOM study: voxel maps over the SPECT time series, VOI statistics
(voxel mean, organ-level dose from the VOI time-activity curve), and RTDOSE from other software.

VOI results put the voxel mean (local deposition, LDM, and dose-voxel-kernel convolution, DVK)
next to the organ-level dose from the VOI time-activity curve (dosimetry.fit_best_tac; kidneys:
mass-scaled S-value, other VOIs: local deposition with the VOI mass), and, when an RTDOSE from
other software is given, its VOI mean. The DVK map (dosimetry.dvk, the vendored Lu-177 kernel)
is rescaled from the kernel's medium to the study's tissue density, so LDM and DVK divide by the
same mass; no CT is read, so no per-voxel density scaling is applied.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from prrt_core import dicom, dosimetry
from prrt_core.dosimetry.dvk import SAME_GRID_TOLERANCE, density_scaled_dose_gy, dvk_dose_map_gy
from prrt_core.dosimetry.kernel import lu177_soft_tissue_kernel
from prrt_core.dosimetry.voxel import TISSUE_DENSITY_G_PER_ML, dvh, tac_curve_mbq, tia_and_dose_maps, voi_time_activity
from prrt_core.errors import InputError

KIDNEY_ORGANS = ("kidneys", "kidney_left", "kidney_right")
ONE_TIME_POINT = ("only one SPECT time point: voxel dosimetry needs two or more; with one, use "
                  "single-time-point dosimetry (an effective half-life is needed)")
DVH_SOURCE_LDM = "voxel (local deposition)"
DVH_SOURCE_DVK = "voxel (DVK convolution)"

Progress = Callable[[float, str], None]


class DoseSource(StrEnum):
    """Which dose of a VOI is reported and stored."""

    VOXEL = "voxel"    # voxel mean, local deposition
    DVK = "dvk"        # voxel mean, dose-voxel-kernel convolution
    ORGAN = "organ"    # VOI time-activity curve with S-value (kidneys) or local deposition
    RTDOSE = "rtdose"  # mean of an RTDOSE from other software

    @property
    def column(self) -> str:
        """The column of VoxelDosimetry.organs that holds this dose, Gy."""
        return {"voxel": "voxel_mean_dose_gy", "dvk": "dvk_mean_dose_gy", "organ": "organ_dose_gy", "rtdose": "rtdose_mean_gy"}[self.value]


# --- the study -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class VoxelDosimetry:
    """Dosimetry of one cycle: maps on the reference grid and one row per VOI."""

    study: dicom.DicomStudy
    density_g_per_ml: float
    masks: dict  # VOI name -> bool mask on the reference grid (includes derived 'kidneys')
    organs: pd.DataFrame  # one row per VOI (columns with units, see organ_table)
    tac: pd.DataFrame  # measured VOI activity: voi, time_h, activity_mbq
    tac_fit: pd.DataFrame  # fitted curves: voi, time_h, activity_mbq
    dvh: pd.DataFrame  # voi, source, dose_gy, volume_pct
    tia_mbq_h_per_ml: np.ndarray | None
    dose_gy: np.ndarray | None  # local deposition (LDM), Gy, SPECT grid
    n_positive: np.ndarray | None
    dose_dvk_gy: np.ndarray | None = None  # dose-voxel-kernel convolution, Gy, SPECT grid
    dvk_note: str = ""  # why there is no DVK map (SPECT voxels too far from the kernel's), else ""

    @property
    def dose_sources(self) -> list[DoseSource]:
        """The dose sources this result has a column for (RTDOSE only when one was given)."""
        return [source for source in DoseSource if source.column in self.organs]

    def require_source(self, source: DoseSource | str) -> DoseSource:
        """``source`` as a DoseSource; InputError naming the sources there are when this result has none of it."""
        if source not in self.dose_sources:
            raise InputError(f"dose source {str(source)!r} not available; have "
                             f"{', '.join(s.value for s in self.dose_sources)}")
        return DoseSource(source)

    @property
    def has_spect(self) -> bool:
        return self.dose_gy is not None

    def organ_dose(self, organ: str, source: DoseSource = DoseSource.VOXEL) -> float:
        """The dose of one organ (first VOI of that organ), Gy; NaN when absent."""
        rows = self.organs[self.organs["organ"] == organ]
        return float(rows[DoseSource(source).column].iloc[0]) if len(rows) else float("nan")


def _with_kidneys(vois: Sequence[dicom.Voi]) -> dict[str, tuple[str, str, np.ndarray]]:
    """name -> (organ, label, mask); adds 'kidneys' (union) when both sides exist and no kidneys VOI."""
    out = {v.name: (v.organ, v.name if v.organ == "tumour" else "", v.mask) for v in vois}
    organs = {v.organ: v for v in vois}
    if {"kidney_left", "kidney_right"} <= organs.keys() and "kidneys" not in organs:
        name = "kidneys (left + right)"
        out[name] = ("kidneys", "", organs["kidney_left"].mask | organs["kidney_right"].mask)
    return out


def _organ_level_dose_gy(organ: str, tia_mbq_h: np.ndarray, mass_g: np.ndarray) -> np.ndarray:
    return np.where(np.isin(organ, KIDNEY_ORGANS), dosimetry.kidney_dose_s_value_gy(tia_mbq_h, mass_g),
                    dosimetry.dose_local_deposition_gy(tia_mbq_h, mass_g))


def compute(study: dicom.DicomStudy, *, density_g_per_ml: float = TISSUE_DENSITY_G_PER_ML,
            progress: Progress | None = None) -> VoxelDosimetry:
    """Voxel and organ-level dosimetry of a study read by dicom.read_study."""
    report = progress or (lambda fraction, message: None)
    vois = _with_kidneys(study.vois)
    masks = {name: mask for name, (_, _, mask) in vois.items()}
    organs = pd.DataFrame({"voi": list(vois), "organ": [o for o, _, _ in vois.values()],
                           "label": [lab for _, lab, _ in vois.values()]})
    geometry = study.geometry
    organs["n_voxels"] = [int(m.sum()) for m in masks.values()]
    organs["volume_ml"] = organs["n_voxels"] * geometry.voxel_volume_ml
    organs["mass_g"] = organs["volume_ml"] * density_g_per_ml
    tia = dose = n_pos = None
    tac = tac_fit = pd.DataFrame(columns=["voi", "time_h", "activity_mbq"])
    dvh_frames = []
    if len(study.time_points) == 1:
        tp = study.time_points[0]
        raise dicom.DicomError(tp.source, "AcquisitionDateTime", ONE_TIME_POINT)
    dose_dvk = None
    dvk_note = ""
    if study.time_points:
        times = study.times_h
        report(0.05, "Fitting every voxel")
        activity = [tp.activity_bq_per_ml for tp in study.time_points]
        tia, dose, fit = tia_and_dose_maps(times, activity, density_g_per_ml)
        n_pos = fit.n_positive
        kernel = lu177_soft_tissue_kernel()
        spacing = np.asarray(geometry.spacing_mm, dtype=float)
        if np.all(np.abs(spacing / kernel.voxel_mm - 1.0) <= SAME_GRID_TOLERANCE):
            report(0.4, "Dose-voxel-kernel convolution")
            dose_dvk = density_scaled_dose_gy(dvk_dose_map_gy(tia, geometry.spacing_mm, kernel), density_g_per_ml,
                                              kernel)
        else:  # resampling to the kernel's grid and back understates VOI means by 8-17 % (dvk.py): not shown
            dvk_note = (f"Dose-voxel kernel not applied: the SPECT voxels ({' x '.join(f'{v:.2f}' for v in spacing)} mm) "
                        f"are more than {SAME_GRID_TOLERANCE:.0%} from the kernel's {kernel.voxel_mm:g} mm, where "
                        "resampling would understate VOI mean doses by up to 17 %; local deposition and the "
                        "organ-level dose are shown.")
        report(0.5, "VOI statistics")
        organs["voxel_mean_dose_gy"] = [float(dose[m].mean(dtype=np.float64)) for m in masks.values()]
        organs["voxel_median_dose_gy"] = [float(np.median(dose[m])) for m in masks.values()]
        organs["voxel_max_dose_gy"] = [float(dose[m].max()) for m in masks.values()]
        if dose_dvk is not None:
            organs["dvk_mean_dose_gy"] = [float(dose_dvk[m].mean(dtype=np.float64)) for m in masks.values()]
        curves = voi_time_activity(activity, masks, geometry.voxel_volume_ml)
        for name, curve in zip(masks, curves):
            if (curve <= 0).any():
                k = int(np.argmax(curve <= 0))
                raise dicom.DicomError(study.time_points[k].source, None, f"VOI '{name}' holds no activity "
                                          f"({curve[k]:.3g} MBq) at {times[k]:.1f} h: check the VOI and the "
                                          "registration of this time point")
        report(0.7, "Fitting VOI time-activity curves")
        tac_fits = dosimetry.fit_best_tac(np.broadcast_to(times, curves.shape), curves)
        organs["tac_model"] = np.atleast_1d(tac_fits.model)
        organs["t_eff_h"] = np.atleast_1d(tac_fits.t_eff_h)
        organs["tia_mbq_h"] = np.atleast_1d(tac_fits.tia_mbq_h)
        organs["tac_r2"] = np.atleast_1d(tac_fits.r2)
        organs["organ_dose_gy"] = [float(_organ_level_dose_gy(o, t, m)) for o, t, m in
                                   zip(organs["organ"], organs["tia_mbq_h"], organs["mass_g"])]
        tia_sd = np.atleast_1d(tac_fits.tia_sd_mbq_h)  # dose is linear in TIA at a fixed mass
        organs["organ_dose_sd_gy"] = organs["organ_dose_gy"] * tia_sd / organs["tia_mbq_h"]
        organs["organ_method"] = np.where(organs["organ"].isin(KIDNEY_ORGANS), "kidney S-value (mass-scaled)",
                                          "local deposition (VOI mass)")
        organs["dose_per_activity_gy_per_gbq"] = organs["voxel_mean_dose_gy"] / (study.injection.activity_mbq / 1000)
        tac = pd.DataFrame({"voi": np.repeat(list(masks), len(times)), "time_h": np.tile(times, len(masks)),
                            "activity_mbq": curves.ravel()})
        grid = np.linspace(0.0, float(times[-1]) * 1.1, 120)
        fitted = tac_curve_mbq(tac_fits, grid)
        tac_fit = pd.DataFrame({"voi": np.repeat(list(masks), grid.size), "time_h": np.tile(grid, len(masks)),
                                "activity_mbq": fitted.ravel()})
        dvh_frames.append(dvh(dose, masks).assign(source=DVH_SOURCE_LDM))
        if dose_dvk is not None:
            dvh_frames.append(dvh(dose_dvk, masks).assign(source=DVH_SOURCE_DVK))
    for j, dose_map in enumerate(study.dose_maps):
        report(0.85, "RTDOSE statistics")
        grid_masks = masks if dose_map.geometry.same_grid(geometry) else _masks_on(study, vois, dose_map.geometry)
        dose_gy = dose_map.dose_gy
        column = "rtdose_mean_gy" if j == 0 else f"rtdose_{j + 1}_mean_gy"
        organs[column] = [float(dose_gy[m].mean()) for m in grid_masks.values()]
        dvh_frames.append(dvh(dose_gy, grid_masks).assign(source=f"RTDOSE {dose_map.source}"))
    report(1.0, "Done")
    return VoxelDosimetry(study, density_g_per_ml, masks, organs, tac, tac_fit,
                          pd.concat(dvh_frames, ignore_index=True) if dvh_frames else pd.DataFrame(),
                          tia, dose, n_pos, dose_dvk, dvk_note)


def _masks_on(study, vois, target: dicom.Geometry) -> dict[str, np.ndarray]:
    by_name = {v.name: v for v in study.vois}
    out = {}
    for name in vois:
        if name in by_name:
            out[name] = dicom.voi_mask(by_name[name].source, target)[0]
        else:  # derived union of both kidneys
            sides = [dicom.voi_mask(v.source, target)[0] for v in study.vois
                     if v.organ in ("kidney_left", "kidney_right")]
            out[name] = sides[0] | sides[1]
    return out


def analyse(inputs, *, voi_inputs=(), activity_mbq: float | None = None, injection_time: dt.datetime | None = None,
            calibration_cps_per_mbq: float | None = None, acquisition_duration_s: float | None = None,
            density_g_per_ml: float = TISSUE_DENSITY_G_PER_ML, progress: Progress | None = None) -> VoxelDosimetry:
    """Read (dicom.read_study) and compute in one call; progress runs 0-0.6 reading, 0.6-1 computing."""
    report = progress or (lambda fraction, message: None)
    study = dicom.read_study(inputs, voi_inputs=voi_inputs, activity_mbq=activity_mbq,
                                injection_time=injection_time, calibration_cps_per_mbq=calibration_cps_per_mbq,
                                acquisition_duration_s=acquisition_duration_s,
                                progress=lambda f, m: report(0.6 * f, m))
    return compute(study, density_g_per_ml=density_g_per_ml, progress=lambda f, m: report(0.6 + 0.4 * f, m))
