"""Saving a computed study's doses to a cycle: rows for the dosimetry table with provenance."""
from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from prrt_core import dosimetry
from prrt_core.dicom.study_dose import DoseSource, VoxelDosimetry
from prrt_core.errors import InputError
from prrt_core.store import Store
from prrt_core.store.access import Actor

logger = logging.getLogger(__name__)



def _method_text(result: VoxelDosimetry, source: str, row) -> str:
    study = result.study
    if source == "rtdose":
        d = study.dose_maps[0]
        return f"RTDOSE from other software ({d.dose_type}, {d.summation_type}), VOI mean"
    times = study.times_h
    span = f"SPECT/CT {len(times)} time points ({times[0]:.0f}-{times[-1]:.0f} h)"
    if source == "voxel":
        return (f"{span}: voxel mono-exponential log-linear fit (lambda >= lambda_phys), local deposition "
                f"(rho {result.density_g_per_ml:g} g/mL), VOI mean")
    return f"{span}: VOI TAC {row['tac_model']}-exponential, {row['organ_method']}"


def dosimetry_rows(result: VoxelDosimetry, cycle_id: int, source: DoseSource = DoseSource.VOXEL) -> pd.DataFrame:
    """Rows for the store's dosimetry table, one per VOI with a store organ.

    source: 'voxel' (voxel mean, local deposition), 'organ' (VOI TAC and S-value / local
    deposition) or 'rtdose' (mean of the RTDOSE). t_eff_h is the VOI TAC's effective
    half-life (None without a SPECT series). provenance is JSON with the method, the models,
    the activity and its source, and the SOP/Series Instance UIDs (never file names).
    """
    source = result.require_source(source)
    study = result.study
    spect = [{"series_instance_uid": tp.series_instance_uid, "sop_instance_uids": list(tp.sop_instance_uids),
              "modality": tp.modality, "units": tp.units, "time_h": round(float(t), 3)}
             for tp, t in zip(study.time_points, study.times_h)]
    rows = []
    for _, row in result.organs.iterrows():
        dose = float(row[DoseSource(source).column])
        t_eff = float(row["t_eff_h"]) if "t_eff_h" in row and np.isfinite(row["t_eff_h"]) else None
        if t_eff is not None:
            t_eff = round(min(t_eff, dosimetry.LU177_HALF_LIFE_H), 3)
        if not (np.isfinite(dose) and 0 <= dose <= 500):
            raise InputError(f"VOI {row['voi']!r}: dose {dose} Gy outside 0-500 Gy; not stored")
        voi = next((v.source.provenance() for v in study.vois if v.name == row["voi"]),
                   {"kind": "derived", "name": row["voi"], "from": [v.source.provenance() for v in study.vois
                                                                    if v.organ in ("kidney_left", "kidney_right")]})
        provenance = {
            "software": "prrt_core.voxel", "dose_source": source, "method": _method_text(result, source, row),
            "voxel_model": "mono-exponential, log-linear least squares on positive points, lambda >= lambda_phys; "
                           "1 positive point: physical decay; none: 0",
            "tac_model": row.get("tac_model"), "t_eff_h": t_eff, "voxel_mean_dose_gy": row.get("voxel_mean_dose_gy"),
            "organ_dose_gy": row.get("organ_dose_gy"), "rtdose_mean_gy": row.get("rtdose_mean_gy"),
            "mass_g": round(float(row["mass_g"]), 2), "density_g_per_ml": result.density_g_per_ml,
            "injected_activity_mbq": None if study.injection is None else study.injection.activity_mbq,
            "activity_origin": None if study.injection is None else study.injection.activity_origin,
            "injection_time_origin": None if study.injection is None else study.injection.time_origin,
            "spect_series": spect, "voi": voi,
            "rtdose": [{"series_instance_uid": d.series_instance_uid, "sop_instance_uid": d.sop_instance_uid}
                       for d in study.dose_maps]}
        rows.append({"cycle_id": int(cycle_id), "organ": row["organ"], "label": row["label"], "dose_gy": dose,
                     "t_eff_h": t_eff, "method": _method_text(result, source, row),
                     "provenance": json.dumps(provenance, default=_json_default, sort_keys=True)})
    return pd.DataFrame(rows)


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_to_cycle(store: Store, result: VoxelDosimetry, patient_id: str, cycle_number: int, *, actor: Actor,
                  source: DoseSource = DoseSource.VOXEL) -> pd.DataFrame:
    """Write the dosimetry rows of one cycle in one transaction: update rows that exist
    (same cycle, organ, label), insert the others. Returns what was done per row."""
    cycles = store.read("cycles", patient_id=patient_id)
    match = cycles[cycles["cycle_number"] == int(cycle_number)]
    if match.empty:
        raise InputError(f"patient {patient_id!r} has no cycle {cycle_number}")
    cycle_id = int(match["cycle_id"].iloc[0])
    rows = dosimetry_rows(result, cycle_id, source)
    existing = store.read("dosimetry", patient_id=patient_id)
    existing = existing[existing["cycle_id"] == cycle_id].set_index(["organ", "label"])["dosimetry_id"]
    actions = []
    with store.transaction(actor):
        new = []
        for row in rows.to_dict(orient="records"):
            key = (row["organ"], row["label"])
            if key in existing.index:
                changes = {k: row[k] for k in ("dose_gy", "t_eff_h", "method", "provenance")}
                store.update("dosimetry", int(existing.loc[key]), changes, actor=actor)
                actions.append("updated")
            else:
                new.append(row)
                actions.append("inserted")
        if new:
            store.insert({"dosimetry": new}, actor=actor)
    logger.info("dosimetry saved: %d rows for one cycle (%s)", len(rows), source)
    return rows[["organ", "label", "dose_gy", "t_eff_h"]].assign(action=actions).rename(
        columns={"organ": "Organ", "label": "Label", "dose_gy": "Dose (Gy)", "t_eff_h": "T_eff (h)",
                 "action": "Action"})
