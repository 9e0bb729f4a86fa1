"""Home: the cohort at a glance and what each page is for."""

import streamlit as st

from prrt_core.views.format import fmt
from ui import database, navigation

navigation.ensure_navigation()

overview = database.cohort_overview()

st.title("Salvage PRRT Board")
database.demo_notice()
st.caption("Decision support for further (salvage) cycles of 177Lu-DOTATATE in metastatic "
           "neuroendocrine tumours.")

cols = st.columns(5)
cols[0].metric("Patients", overview.n_patients,
               help=f"{overview.n_salvage_patients} with salvage cycles")
cols[1].metric("Cycles", overview.n_cycles)
cols[2].metric("Median cycles per patient", fmt(overview.median_cycles_per_patient, 1))
cols[3].metric("Mean cumulative activity (GBq)", fmt(overview.mean_cumulative_activity_gbq, 1))
cols[4].metric("Mean cumulative kidney dose (Gy)", fmt(overview.mean_cumulative_kidney_dose_gy, 1),
               help="Over the "
                    f"{overview.n_patients_with_complete_kidney_dosimetry} patients with a kidney "
                    "dose for every cycle")

st.subheader("What this is for")
st.markdown(
    "- **Tumour board review**: one patient's whole history — cycles, kidney and tumour dose, "
    "cumulative kidney dose and BED against their limits, blood counts and renal function with "
    "CTCAE 5.0 grades, RECIST 1.1 response, progression and survival.\n"
    "- **Salvage eligibility**: projected cumulative kidney dose and BED for further cycles, with "
    "their uncertainty, against the limits (23 Gy; BED 28 Gy with and 40 Gy without renal risk "
    "factors), and an eligibility checklist.\n"
    "- **Cohort statistics**: Table 1, toxicity, response and Kaplan–Meier PFS and OS.")

others = [page for page in navigation.PAGES if page[0] != "pages/home.py"]
if others:
    st.subheader("Pages")
    for path, title, icon in others:
        st.page_link(path, label=title, icon=icon)
