"""What the Dosimetry page shows of a computed study: the VOI table and the headline doses."""
from __future__ import annotations

import pandas as pd

from prrt_core.dicom.study_dose import DoseSource, VoxelDosimetry

_DISPLAY = {"voi": "VOI", "organ": "Organ", "n_voxels": "Voxels", "volume_ml": "Volume (mL)", "mass_g": "Mass (g)",
            "voxel_mean_dose_gy": "Voxel mean dose (Gy)", "voxel_median_dose_gy": "Voxel median dose (Gy)",
            "voxel_max_dose_gy": "Voxel max dose (Gy)", "dvk_mean_dose_gy": "DVK mean dose (Gy)",
            "organ_dose_gy": "Organ-level dose (Gy)",
            "organ_dose_sd_gy": "Organ-level dose SD (Gy)",
            "organ_method": "Organ-level method", "tac_model": "TAC model", "t_eff_h": "T_eff (h)",
            "tia_mbq_h": "TIA (MBq·h)", "tac_r2": "TAC R² (ln scale)",
            "dose_per_activity_gy_per_gbq": "Voxel mean dose per activity (Gy/GBq)",
            "rtdose_mean_gy": "RTDOSE mean dose (Gy)"}


# What each dose source is called on the page and in the report.
SOURCE_LABELS = {DoseSource.VOXEL: "Voxel mean (local deposition, LDM)",
                 DoseSource.DVK: "Voxel mean (dose-voxel kernel, DVK)",
                 DoseSource.ORGAN: "Organ level (VOI TAC, S-value)",
                 DoseSource.RTDOSE: "RTDOSE mean (other software)"}


def organ_table(result: VoxelDosimetry) -> pd.DataFrame:
    """The VOI results with user-facing, unit-bearing column headers."""
    cols = [c for c in _DISPLAY if c in result.organs]
    return result.organs[cols].rename(columns=_DISPLAY)


_HEADLINE = {"kidneys": "Kidneys, both (Gy)", "kidney_left": "Left kidney (Gy)", "kidney_right": "Right kidney (Gy)",
             "liver": "Liver (Gy)", "spleen": "Spleen (Gy)"}


def headline_doses(result: VoxelDosimetry, source: DoseSource = DoseSource.VOXEL) -> list[tuple[str, float, str]]:
    """(label, dose Gy, detail) for the kidneys, then each side, then each lesion, liver and spleen.

    The detail names the VOI, its mass and TAC, and the other voxel method's dose (LDM or DVK).
    """
    source = result.require_source(source)
    order = ["kidneys", "kidney_left", "kidney_right", "tumour", "liver", "spleen"]
    out = []
    for organ in order:
        for _, row in result.organs[result.organs["organ"] == organ].iterrows():
            label = f"Tumour {row['voi']} (Gy)" if organ == "tumour" else _HEADLINE[organ]
            detail = f"{row['voi']}: {row['mass_g']:.0f} g"
            if "t_eff_h" in row:
                detail += f", T_eff {row['t_eff_h']:.1f} h ({row['tac_model']}-exponential TAC)"
            others = [f"{short} {row[s.column]:.2f} Gy" for s, short in ((DoseSource.VOXEL, "LDM"), (DoseSource.DVK, "DVK"))
                      if s != source and s.column in row]
            if others:
                detail += "; " + ", ".join(others)
            out.append((label, float(row[DoseSource(source).column]), detail))
    return out
