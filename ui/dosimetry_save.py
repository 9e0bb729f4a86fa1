"""Saving a computed study to a cycle on the Dosimetry page (editors): the cycle of the injection date
preselected, warnings when date or activity differ from the cycle's, stored doses replaced only after
a confirmation showing old -> new (prrt_core.importer.dosimetry_results.check_save / save)."""
from __future__ import annotations

import hashlib

import streamlit as st

from prrt_core.errors import PrrtError
from prrt_core.importer import dosimetry_results
from prrt_core.store import Store
from ui import database, identity
from ui.text import md

PATIENT_KEY = "dosimetry_patient"


def patient_picker(label: str = "Patient (pseudonymous ID)") -> str | None:
    """The patient the study belongs to (key PATIENT_KEY); None when the database has none."""
    patients = sorted(database.tables().patients["patient_id"])
    if not patients:
        st.info("The database has no patients yet.")
        return None
    # No patient preselected: the files name none the app can trust (it keeps pseudonymous IDs only),
    # so the physicist chooses; a first patient of the list would invite a save to the wrong one.
    return st.selectbox(label, patients, index=None, placeholder="Choose the patient of this study",
                        key=PATIENT_KEY)


def save_section(result, source, method_text: str, patient_id: str | None = None) -> None:
    """The "Save to a cycle" section: ``result`` a VoxelDosimetry with a DoseSource, or a single-time-point
    result with a StpMethod (``source``); ``patient_id`` when the page chose it above."""
    st.subheader("Save to a cycle")
    c1, c2 = st.columns(2)
    if patient_id is None:
        with c1:
            patient_id = patient_picker()
    if patient_id is None:
        return
    tables = database.tables()
    cycles = tables.cycles[tables.cycles["patient_id"] == patient_id].sort_values("cycle_number")
    if cycles.empty:
        st.info(f"Patient {md(patient_id)} has no cycles yet.")
        return
    labels = {int(r.cycle_number): f"Cycle {int(r.cycle_number)} ({r.cycle_date:%Y-%m-%d}, {r.activity_gbq:.2f} GBq)"
              for r in cycles.itertuples()}
    injection = result.study.injection
    matched = dosimetry_results.matching_cycle(cycles, injection)
    numbers = list(labels)
    cycle_number = c2.selectbox("Cycle", numbers, index=numbers.index(matched) if matched in labels else 0,
                                format_func=labels.get, key=f"dosimetry_cycle_{patient_id}")
    if injection is not None:
        st.caption(f"Injection on {injection.time:%Y-%m-%d}: " + (
            f"cycle {matched} is dated within a day and was preselected." if matched is not None else
            "no cycle of this patient is dated within a day of it."))
    try:
        with Store(database.db_path()) as store:
            check = dosimetry_results.check_save(store, result, patient_id, cycle_number, source)
    except PrrtError as exc:
        st.error(f"Nothing can be stored. {md(exc)}")
        return
    for warning in check.warnings:
        st.warning(md(warning), icon=":material/warning:")
    st.caption(f"Writes one row per VOI ({md(method_text)}), with its 1-sigma uncertainty where known.")
    confirmed = True
    if check.warnings:  # another day or activity than the cycle's: saved only when the physicist says so
        confirmed = st.checkbox(f"Save to cycle {cycle_number} although its date or activity differs (above)",
                                key=f"dosimetry_mismatch_{patient_id}_{cycle_number}")
    if check.replacements:
        st.warning(f"Cycle {cycle_number} already has {len(check.replacements)} stored dose(s) for the same organ "
                   "and label. Saving replaces them (old → new); the audit log keeps both.")
        st.markdown("\n".join(f"- **{md((r['Organ'] + ' ' + r['Label']).strip())}**: {md(r['Stored dose (Gy)'])} Gy "
                               f"({md(r['Stored method'])}) → **{md(r['New dose (Gy)'])} Gy** ({md(r['New method'])})"
                               for r in check.replacement_table().to_dict(orient="records")))
        # Keyed on what is replaced by what: another cycle, dose or a row written meanwhile asks again.
        shown = hashlib.sha256(check.replacement_table().to_json().encode()).hexdigest()[:16]
        confirmed = st.checkbox("Replace the stored doses (old → new above)",
                                key=f"dosimetry_replace_{patient_id}_{cycle_number}_{shown}") and confirmed
    if st.button(f"Save to cycle {cycle_number} of patient {md(patient_id)}", disabled=not confirmed) and confirmed:
        try:
            with Store(database.db_path()) as store:
                done = dosimetry_results.save(store, check, actor=identity.current_actor(),
                                              replace=bool(check.replacements))
        except PrrtError as exc:  # refused input, a stale check, or a write without an editor
            st.error(f"Nothing was stored. {md(exc)}")
        else:
            replaced = int((done["Action"] == "replaced").sum())
            st.success(f"Saved {len(done)} dosimetry rows to cycle {cycle_number} of patient {md(patient_id)}"
                       + (f" ({replaced} replaced)." if replaced else "."))
            st.dataframe(done, hide_index=True)
