"""One patient's record besides the cycles: imaging with RECIST 1.1, the timeline, performance status.

Pure functions of the store's tables; ``views.patient.review`` bundles them for the review page.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from prrt_core.clinical import response
from prrt_core.tables import Tables


def imaging(tables: Tables, patient_id: str) -> pd.DataFrame:
    """Every imaging assessment with its RECIST 1.1 response (computed, follow-ups only).

    Columns: assessment_date, phase, role, modality, target_sum_mm, new_lesions,
    sstr_krenning_score, change_from_baseline_pct, response ('' for baselines and for
    scans not used for response, e.g. before the phase's first cycle).
    """
    t = tables.for_patient(patient_id)
    scans = t.assessments.sort_values("assessment_date", kind="stable")
    parts = []
    for phase in ("initial", "salvage"):
        if (t.cycles["phase"] == phase).any():
            tp = response.timepoint_responses(t.assessments, t.cycles, phase)
            parts.append(tp[["assessment_id", "response", "change_from_baseline_pct"]])
    computed = (pd.concat(parts, ignore_index=True) if parts
                else pd.DataFrame(columns=["assessment_id", "response", "change_from_baseline_pct"]))
    out = scans.merge(computed, on="assessment_id", how="left")
    out["response"] = out["response"].fillna("").astype(str)
    columns = ["assessment_date", "phase", "role", "modality", "target_sum_mm", "new_lesions",
               "sstr_krenning_score", "change_from_baseline_pct", "response"]
    for column in columns:
        if column not in out.columns:
            out[column] = np.nan
    return out[columns].reset_index(drop=True)


IMAGING_COLUMNS = {
    "assessment_date": "Date", "phase": "Phase", "role": "Scan", "modality": "Modality",
    "target_sum_mm": "Target sum (mm)", "new_lesions": "New lesions", "sstr_krenning_score": "Krenning score",
    "change_from_baseline_pct": "Change from baseline (%)", "response": "RECIST 1.1"}

_EVENT_LABEL = {"progression": "Progression", "death": "Death", "last_contact": "Last contact"}


def timeline(tables: Tables, patient_id: str,
             scans: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cycles, imaging and events in date order: date, kind ('cycle' | 'imaging' | 'event'),
    phase ('' when none), what (one line a clinician reads) and label (the few characters
    written beside the event on the timeline chart: 'C3', 'baseline', 'PR', 'Death').
    ``scans``: :func:`imaging` of the patient when already computed."""
    t = tables.for_patient(patient_id)
    cyc = t.cycles
    rows = [pd.DataFrame({
        "date": cyc["cycle_date"], "kind": "cycle", "phase": cyc["phase"],
        "what": [f"Cycle {n} ({p}): {a:.2f} GBq" for n, p, a in
                 zip(cyc["cycle_number"], cyc["phase"], cyc["activity_gbq"])],
        "label": [f"C{n}" for n in cyc["cycle_number"]]})]
    scans = imaging(tables, patient_id) if scans is None else scans
    if not scans.empty:
        text = [f"{m} {r}: target sum {s:.1f} mm" if pd.notna(s) else f"{m} {r}: not measured"
                for m, r, s in zip(scans["modality"], scans["role"], scans["target_sum_mm"])]
        text = [x + (f", RECIST {resp}" if resp else "")
                + (f", Krenning {int(k)}" if pd.notna(k) else "")
                for x, resp, k in zip(text, scans["response"], scans["sstr_krenning_score"])]
        labels = [resp if resp else ("baseline" if role == "baseline" else "scan")
                  for resp, role in zip(scans["response"], scans["role"])]
        rows.append(pd.DataFrame({"date": scans["assessment_date"], "kind": "imaging",
                                  "phase": scans["phase"], "what": text, "label": labels}))
    ev = t.events
    if not ev.empty:
        rows.append(pd.DataFrame({
            "date": ev["event_date"], "kind": "event", "phase": ev["phase"].fillna(""),
            "what": [_EVENT_LABEL[k] + (f" ({p})" if isinstance(p, str) and p else "")
                     for k, p in zip(ev["event_type"], ev["phase"])],
            "label": [_EVENT_LABEL[k] for k in ev["event_type"]]}))
    out = pd.concat(rows, ignore_index=True)
    order = out["kind"].map({"cycle": 0, "imaging": 1, "event": 2})
    return (out.assign(_o=order).sort_values(["date", "_o"], kind="stable")
            .drop(columns="_o").reset_index(drop=True))


PERFORMANCE_COLUMNS = {"status_date": "Date", "ecog": "ECOG (0-5)", "karnofsky_pct": "Karnofsky (%)"}


def performance_history(tables: Tables, patient_id: str) -> pd.DataFrame:
    """ECOG (0-5) and Karnofsky (%) performance status in date order: status_date, ecog,
    karnofsky_pct (nullable integers; either may be missing on a date)."""
    ps = tables.for_patient(patient_id).performance_status
    out = ps.sort_values("status_date", kind="stable")[list(PERFORMANCE_COLUMNS)].reset_index(drop=True)
    for column in ("ecog", "karnofsky_pct"):
        out[column] = pd.to_numeric(out[column]).round().astype("Int64")
    return out


def performance_text(performance: pd.DataFrame) -> str:
    """The latest performance status: 'ECOG 1, Karnofsky 80 % (2022-10-24)'; 'not recorded' when none."""
    if performance.empty:
        return "not recorded"
    last = performance.iloc[-1]
    parts = [f"ECOG {last['ecog']}" if pd.notna(last["ecog"]) else "",
             f"Karnofsky {last['karnofsky_pct']} %" if pd.notna(last["karnofsky_pct"]) else ""]
    return f"{', '.join(p for p in parts if p)} ({last['status_date'].date().isoformat()})"


def prior_therapies(patient: pd.Series) -> tuple[str, ...]:
    """The recorded prior therapies ('; '-separated in the record), in recorded order; () when none."""
    text = patient.get("prior_therapies")
    if not isinstance(text, str):
        return ()
    return tuple(part.strip() for part in text.split(";") if part.strip())
