"""Saving a computed study's doses to a cycle: rows for the dosimetry table with provenance, checked first.

Two steps, so that nothing is written by mistake (issue 16):
- :func:`check_save` compares the study with the chosen cycle (injection date more than
  ``MAX_DATE_DIFFERENCE`` away, activity more than ``MAX_ACTIVITY_DIFFERENCE`` apart: a warning
  with both values) and lists the stored rows of that cycle, organ and label that the save
  would replace, old -> new (dose, uncertainty, method);
- :func:`save` writes in one transaction; it refuses to replace a stored row unless
  ``replace=True`` (the user confirmed the old -> new table), or when the cycle's rows changed
  since the check. Each replaced row is one audited update (before and after values), each new
  row one audited insert (its values).
The stored ``method`` starts with the method's name (:data:`METHOD_NAMES`, ``StpMethod.label``);
``dose_sd_gy`` is the 1-sigma uncertainty when known.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prrt_core import dosimetry
from prrt_core.dicom.injection import Injection
from prrt_core.dicom.study_dose import DoseSource, VoxelDosimetry
from prrt_core.dicom.study_stp import SingleTimePointDosimetry, StpMethod
from prrt_core.dosimetry.single_time_point import TEffEstimate, TEffSource, cohort_t_eff, patient_t_eff
from prrt_core.errors import InputError
from prrt_core.store import Store
from prrt_core.store.access import Actor, require_editor
from prrt_core.tables import Tables

logger = logging.getLogger(__name__)

MAX_DATE_DIFFERENCE = dt.timedelta(days=1)  # injection date vs the cycle's date (issue 16)
MAX_ACTIVITY_DIFFERENCE = 0.05  # injected activity vs the cycle's, relative to the cycle's (issue 16)
METHOD_NAMES = {DoseSource.VOXEL: "voxel mean (LDM)", DoseSource.DVK: "voxel mean (DVK)",
                DoseSource.ORGAN: "organ S-value", DoseSource.RTDOSE: "RTDOSE mean (other software)"}


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(row, column: str) -> float | None:
    value = row.get(column) if hasattr(row, "get") else None
    return float(value) if value is not None and np.isfinite(value) else None


def _spect(study) -> list[dict]:
    return [{"series_instance_uid": tp.series_instance_uid, "sop_instance_uids": list(tp.sop_instance_uids),
             "modality": tp.modality, "units": tp.units, "time_h": round(float(t), 3)}
            for tp, t in zip(study.time_points, study.times_h)]


def _method_text(result: VoxelDosimetry, source: DoseSource, row) -> str:
    """The method's name (METHOD_NAMES; a non-kidney VOI's organ-level dose is local deposition), then details."""
    study = result.study
    if source == DoseSource.RTDOSE:
        d = study.dose_maps[0]
        return f"{METHOD_NAMES[source]}; {d.dose_type}, {d.summation_type}, VOI mean"
    times = study.times_h
    span = f"SPECT/CT {len(times)} time points ({times[0]:.0f}-{times[-1]:.0f} h)"
    if source in (DoseSource.VOXEL, DoseSource.DVK):
        deposit = "local deposition" if source == DoseSource.VOXEL else "Lu-177 dose-voxel kernel"
        return (f"{METHOD_NAMES[source]}; {span}: voxel mono-exponential log-linear fit (lambda >= lambda_phys), "
                f"{deposit} (rho {result.density_g_per_ml:g} g/mL), VOI mean")
    name = METHOD_NAMES[source] if row["organ"] in ("kidneys", "kidney_left", "kidney_right") else \
        "organ local deposition (VOI mass)"
    return f"{name}; {span}: VOI TAC {row['tac_model']}-exponential, {row['organ_method']}"


# The store's bound of dosimetry.dose_sd_gy (schema MIGRATION_4).
MAX_DOSE_SD_GY = 500.0


def dose_sd_gy(row, source: DoseSource) -> float | None:
    """1-sigma uncertainty of a VOI's dose from the TAC fit (column organ_dose_sd_gy; Gear et al. EJNMMI
    2018;45:2456): the organ-level dose's own; for a voxel mean (LDM, DVK) the same relative
    uncertainty (dose linear in the time-integrated activity); None for an RTDOSE or when unknown."""
    sd, organ = _finite(row, "organ_dose_sd_gy"), _finite(row, "organ_dose_gy")
    if sd is None or source == DoseSource.RTDOSE:
        return None
    if source == DoseSource.ORGAN:
        return sd if sd <= MAX_DOSE_SD_GY else None
    dose = _finite(row, source.column)
    value = None if dose is None or not organ else abs(dose * sd / organ)
    # An uncertainty beyond what the store holds (500 Gy: a curve the fit barely determines) is not a
    # number to keep: stored as unknown, the dose itself still saved.
    return value if value is not None and value <= MAX_DOSE_SD_GY else None


def _checked_dose(voi: str, dose: float) -> float:
    if not (np.isfinite(dose) and 0 <= dose <= 500):
        raise InputError(f"VOI {voi!r}: dose {dose} Gy outside 0-500 Gy; not stored")
    return dose


def dosimetry_rows(result: VoxelDosimetry, cycle_id: int, source: DoseSource = DoseSource.VOXEL) -> pd.DataFrame:
    """Rows for the store's dosimetry table, one per VOI with a store organ.

    source: 'voxel' (voxel mean, LDM), 'dvk' (voxel mean, DVK), 'organ' (VOI TAC and S-value /
    local deposition) or 'rtdose' (mean of the RTDOSE). t_eff_h is the VOI TAC's effective
    half-life (None without a SPECT series); dose_sd_gy as :func:`dose_sd_gy`. provenance is
    JSON with the method, the models, the activity and its source, and the SOP/Series Instance
    UIDs (never file names).
    """
    source = result.require_source(source)
    study = result.study
    rows = []
    for _, row in result.organs.iterrows():
        dose = _checked_dose(row["voi"], float(row[source.column]))
        t_eff = _finite(row, "t_eff_h")
        t_eff = None if t_eff is None else round(min(t_eff, dosimetry.LU177_HALF_LIFE_H), 3)
        sd = dose_sd_gy(row, source)
        voi = next((v.source.provenance() for v in study.vois if v.name == row["voi"]),
                   {"kind": "derived", "name": row["voi"], "from": [v.source.provenance() for v in study.vois
                                                                    if v.organ in ("kidney_left", "kidney_right")]})
        method = _method_text(result, source, row)
        provenance = {
            "software": "prrt_core.voxel", "dose_source": source.value, "method": method,
            "voxel_model": "mono-exponential, log-linear least squares on positive points, lambda >= lambda_phys; "
                           "1 positive point: physical decay; none: 0",
            "tac_model": row.get("tac_model"), "t_eff_h": t_eff, "voxel_mean_dose_gy": _finite(row, "voxel_mean_dose_gy"),
            "dvk_mean_dose_gy": _finite(row, "dvk_mean_dose_gy"), "organ_dose_gy": _finite(row, "organ_dose_gy"),
            "organ_dose_sd_gy": _finite(row, "organ_dose_sd_gy"), "rtdose_mean_gy": _finite(row, "rtdose_mean_gy"),
            "dose_sd_gy": sd, "dose_sd_basis": None if sd is None else "VOI TAC fit covariance (1 sigma)",
            "mass_g": round(float(row["mass_g"]), 2), "density_g_per_ml": result.density_g_per_ml,
            "injected_activity_mbq": None if study.injection is None else study.injection.activity_mbq,
            "activity_origin": None if study.injection is None else study.injection.activity_origin,
            "injection_time_origin": None if study.injection is None else study.injection.time_origin,
            "spect_series": _spect(study), "voi": voi,
            "rtdose": [{"series_instance_uid": d.series_instance_uid, "sop_instance_uid": d.sop_instance_uid}
                       for d in study.dose_maps]}
        rows.append({"cycle_id": int(cycle_id), "organ": row["organ"], "label": row["label"], "dose_gy": dose,
                     "dose_sd_gy": sd, "t_eff_h": t_eff, "method": method,
                     "provenance": json.dumps(provenance, default=_json_default, sort_keys=True)})
    return pd.DataFrame(rows)


def stp_rows(result: SingleTimePointDosimetry, cycle_id: int, method: StpMethod) -> pd.DataFrame:
    """Rows of a single-time-point result: the chosen method's dose, the T_eff used and where it came
    from, the one time point. VOIs the method has no dose for (Hänscheid: kidneys only) are left out."""
    method = StpMethod(method)
    study = result.study
    rows = []
    for _, row in result.organs.iterrows():
        if not np.isfinite(row[method.column]):
            continue
        dose = _checked_dose(row["voi"], float(row[method.column]))
        t_eff = round(min(float(row["t_eff_h"]), dosimetry.LU177_HALF_LIFE_H), 3)
        text = (f"{method.label}; SPECT/CT 1 time point ({float(row['time_h']):.0f} h), "
                f"T_eff {t_eff:g} h ({result.t_eff_source})")
        provenance = {"software": "prrt_core.single_time_point", "dose_source": method.value, "method": text,
                      "t_eff_h": t_eff, "t_eff_source": result.t_eff_source,
                      "concentration_mbq_per_ml": _finite(row, "concentration_mbq_per_ml"),
                      "hanscheid_dose_gy": _finite(row, "hanscheid_dose_gy"),
                      "madsen_dose_gy": _finite(row, "madsen_dose_gy"), "mass_g": round(float(row["mass_g"]), 2),
                      "injected_activity_mbq": None if study.injection is None else study.injection.activity_mbq,
                      "activity_origin": None if study.injection is None else study.injection.activity_origin,
                      "spect_series": _spect(study)}
        rows.append({"cycle_id": int(cycle_id), "organ": row["organ"], "label": row["label"], "dose_gy": dose,
                     "dose_sd_gy": None, "t_eff_h": t_eff, "method": text,
                     "provenance": json.dumps(provenance, default=_json_default, sort_keys=True)})
    if not rows:
        raise InputError(f"{method.label}: no VOI has a dose (Hänscheid 2018 is for kidneys only)")
    return pd.DataFrame(rows)


def _rows(result, cycle_id: int, source) -> pd.DataFrame:
    if isinstance(result, VoxelDosimetry):
        return dosimetry_rows(result, cycle_id, source)
    return stp_rows(result, cycle_id, source)


# ---- T_eff for a single time point -----------------------------------------------------------
# The stored method of a single-time-point dose starts so (StpMethod.label).
STP_METHOD_PREFIX = "single-time-point"


def kidney_t_eff_per_cycle(tables: Tables) -> pd.DataFrame:
    """One measured kidney T_eff (h) per cycle with one stored: the 'kidneys' row, else the mean of left
    and right; columns cycle_id, patient_id, cycle_date, t_eff_h. A single-time-point row's T_eff was
    assumed, not measured: it is left out (else later estimates would feed on earlier assumptions)."""
    dosimetry = tables.dosimetry
    measured = ~dosimetry["method"].fillna("").str.startswith(STP_METHOD_PREFIX)
    d = dosimetry[dosimetry["organ"].isin(("kidneys", "kidney_left", "kidney_right"))
                  & dosimetry["t_eff_h"].notna() & measured]
    both = d[d["organ"] == "kidneys"].groupby("cycle_id")["t_eff_h"].mean()
    sides = d[d["organ"] != "kidneys"].groupby("cycle_id")["t_eff_h"].mean()
    per_cycle = both.combine_first(sides).rename("t_eff_h").reset_index()
    return per_cycle.merge(tables.cycles[["cycle_id", "patient_id", "cycle_date"]], on="cycle_id")


def t_eff_estimate(tables: Tables, patient_id: str | None, before: dt.date | None,
                   use: TEffSource | None = None) -> TEffEstimate | None:
    """The kidney T_eff for a single-time-point study: the median of the patient's cycles dated before
    ``before`` (all of them when None), else (or with ``use`` COHORT) the cohort's median over every
    cycle; None when there is no value (dosimetry.single_time_point)."""
    per_cycle = kidney_t_eff_per_cycle(tables)
    mine = per_cycle[per_cycle["patient_id"] == patient_id]
    if before is not None:
        mine = mine[pd.to_datetime(mine["cycle_date"]) < pd.Timestamp(before)]
    if use is TEffSource.COHORT:
        return cohort_t_eff(per_cycle["t_eff_h"])
    return patient_t_eff(mine["t_eff_h"]) or (None if use is TEffSource.PATIENT else cohort_t_eff(per_cycle["t_eff_h"]))


def t_eff_text(estimate: TEffEstimate, patient_id: str | None) -> str:
    """e.g. "T_eff 52.1 h: median of NET-004's 3 earlier cycles" (stored with the result)."""
    if estimate.source is TEffSource.PATIENT:
        where = f"median of {patient_id}'s {estimate.n} earlier cycle{'s' if estimate.n != 1 else ''}"
    elif estimate.source is TEffSource.COHORT:
        where = f"median of the cohort's {estimate.n} cycles with a kidney T_eff"
    else:
        where = "entered by the physicist"
    return f"T_eff {estimate.t_eff_h:.1f} h: {where}"


# ---- the check before a save ----------------------------------------------------------------
def matching_cycle(cycles: pd.DataFrame, injection: Injection | None) -> int | None:
    """The cycle_number whose date is nearest the injection date, when within MAX_DATE_DIFFERENCE; else None."""
    if injection is None or cycles.empty:
        return None
    days = (pd.to_datetime(cycles["cycle_date"]) - pd.Timestamp(injection.time.date())).abs()
    best = days.idxmin()
    return int(cycles.loc[best, "cycle_number"]) if days[best] <= pd.Timedelta(MAX_DATE_DIFFERENCE) else None


@dataclass(frozen=True)
class Replacement:
    """A stored row the save would replace: old and new dose (Gy), uncertainty and method."""

    dosimetry_id: int
    organ: str
    label: str
    old_dose_gy: float
    new_dose_gy: float
    old_sd_gy: float | None
    new_sd_gy: float | None
    old_method: str
    new_method: str


@dataclass(frozen=True)
class SaveCheck:
    """What a save to one cycle would do: the rows, the warnings, the rows it would replace."""

    patient_id: str
    cycle_number: int
    cycle_id: int
    rows: pd.DataFrame
    warnings: tuple[str, ...]
    replacements: tuple[Replacement, ...]

    def replacement_table(self) -> pd.DataFrame:
        """Old -> new per replaced row, for the confirmation."""
        def sd(v):
            return "" if v is None or pd.isna(v) else f" ± {v:.2f}"
        return pd.DataFrame({"Organ": [r.organ for r in self.replacements],
                             "Label": [r.label for r in self.replacements],
                             "Stored dose (Gy)": [f"{r.old_dose_gy:.2f}{sd(r.old_sd_gy)}" for r in self.replacements],
                             "Stored method": [r.old_method for r in self.replacements],
                             "New dose (Gy)": [f"{r.new_dose_gy:.2f}{sd(r.new_sd_gy)}" for r in self.replacements],
                             "New method": [r.new_method for r in self.replacements]})


def _warnings(cycle, injection: Injection | None) -> tuple[str, ...]:
    if injection is None:
        return ()
    out = []
    cycle_date = pd.Timestamp(cycle["cycle_date"]).date()
    if abs(injection.time.date() - cycle_date) > MAX_DATE_DIFFERENCE:
        out.append(f"The study's injection date {injection.time.date().isoformat()} differs from cycle "
                   f"{int(cycle['cycle_number'])}'s date {cycle_date.isoformat()} by "
                   f"{abs((injection.time.date() - cycle_date).days)} days (more than 1).")
    cycle_mbq = float(cycle["activity_gbq"]) * 1000.0
    if abs(injection.activity_mbq - cycle_mbq) > MAX_ACTIVITY_DIFFERENCE * cycle_mbq:
        out.append(f"The study's injected activity {injection.activity_mbq:.0f} MBq differs from cycle "
                   f"{int(cycle['cycle_number'])}'s {cycle_mbq:.0f} MBq by "
                   f"{100 * (injection.activity_mbq - cycle_mbq) / cycle_mbq:+.1f} % (more than 5 %).")
    return tuple(out)


def _optional(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _replacements(store: Store, patient_id: str, cycle_id: int, rows: pd.DataFrame) -> tuple[Replacement, ...]:
    stored = store.read("dosimetry", patient_id=patient_id)
    stored = stored[stored["cycle_id"] == cycle_id].set_index(["organ", "label"])
    out = []
    for row in rows.to_dict(orient="records"):
        key = (row["organ"], row["label"])
        if key in stored.index:
            old = stored.loc[key]
            out.append(Replacement(int(old["dosimetry_id"]), row["organ"], row["label"], float(old["dose_gy"]),
                                   float(row["dose_gy"]), _optional(old.get("dose_sd_gy")),
                                   _optional(row["dose_sd_gy"]), str(old["method"]), row["method"]))
    return tuple(out)


def check_save(store: Store, result, patient_id: str, cycle_number: int, source) -> SaveCheck:
    """What saving ``result`` (VoxelDosimetry with a DoseSource, or a single-time-point result with a
    StpMethod) to a cycle would do; writes nothing. InputError when the patient has no such cycle."""
    cycles = store.read("cycles", patient_id=patient_id)
    match = cycles[cycles["cycle_number"] == int(cycle_number)]
    if match.empty:
        raise InputError(f"patient {patient_id!r} has no cycle {cycle_number}")
    cycle = match.iloc[0]
    cycle_id = int(cycle["cycle_id"])
    rows = _rows(result, cycle_id, source)
    return SaveCheck(patient_id, int(cycle_number), cycle_id, rows, _warnings(cycle, result.study.injection),
                     _replacements(store, patient_id, cycle_id, rows))


def save(store: Store, check: SaveCheck, *, actor: Actor, replace: bool = False) -> pd.DataFrame:
    """Write the checked rows in one transaction: audited updates of the rows listed as replacements
    (only with ``replace``), audited inserts of the others. InputError, nothing written, when rows
    would be replaced without ``replace`` or the cycle's rows changed since the check; AccessDenied
    first when ``actor`` may not write."""
    require_editor(actor)
    if check.replacements and not replace:
        raise InputError(f"cycle {check.cycle_number} of patient {check.patient_id!r} has "
                         f"{len(check.replacements)} dosimetry row(s) for the same organ and label: confirm "
                         "replacing them (old -> new)")
    actions = []
    with store.transaction(actor):
        if _replacements(store, check.patient_id, check.cycle_id, check.rows) != check.replacements:
            raise InputError(f"the dosimetry of cycle {check.cycle_number} of patient {check.patient_id!r} changed "
                             "since it was checked; check again")
        replaced = {(r.organ, r.label): r.dosimetry_id for r in check.replacements}
        new = []
        for row in check.rows.to_dict(orient="records"):
            key = (row["organ"], row["label"])
            if key in replaced:
                changes = {k: row[k] for k in ("dose_gy", "dose_sd_gy", "t_eff_h", "method", "provenance")}
                store.update("dosimetry", replaced[key], changes, actor=actor)
                actions.append("replaced")
            else:
                new.append(row)
                actions.append("inserted")
        if new:
            store.insert({"dosimetry": new}, actor=actor, audit_rows=True)
    logger.info("dosimetry saved: %d rows for one cycle (%d replaced)", len(actions), len(replaced))
    return check.rows[["organ", "label", "dose_gy", "dose_sd_gy", "t_eff_h", "method"]].assign(action=actions).rename(
        columns={"organ": "Organ", "label": "Label", "dose_gy": "Dose (Gy)", "dose_sd_gy": "Dose SD (Gy)",
                 "t_eff_h": "T_eff (h)", "method": "Method", "action": "Action"})


def save_to_cycle(store: Store, result, patient_id: str, cycle_number: int, *, actor: Actor,
                  source=DoseSource.VOXEL, replace: bool = False) -> pd.DataFrame:
    """:func:`check_save` then :func:`save` (the command line: ``replace`` is its --replace)."""
    return save(store, check_save(store, result, patient_id, cycle_number, source), actor=actor, replace=replace)
