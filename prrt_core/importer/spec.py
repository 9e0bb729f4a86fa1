"""The import column specification: a :class:`ColumnSpec` per store column, grouped by table in
:data:`TABLES`.

One specification drives the template and its explanation sheet, the header parsing with unit
conversion, and the validation. Its ranges and enumerations equal the CHECK constraints of
``prrt_core.store.schema`` (tests/unit/test_importers.py feeds boundary values to both). The
unit conversion factors below carry their sources.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MAX_TEXT_CHARS = 500
MAX_JSON_CHARS = 65536  # schema.py: board_decisions.snapshot_json
EXAMPLE_PATIENT_ID = "EXAMPLE-01"


class ColumnKind(StrEnum):
    """How the cells of a column are parsed, checked and stored."""

    ID = "id"        # pseudonymous id: 1-32 letters, digits, '-' or '_'
    TEXT = "text"
    INT = "int"
    REAL = "real"
    DATE = "date"    # ISO YYYY-MM-DD
    BOOL = "bool"    # stored 1/0
    ENUM = "enum"    # one of ColumnSpec.choices
    JSON = "json"    # a JSON object (strict: no NaN/Infinity), at most MAX_JSON_CHARS characters
    TIMESTAMP = "timestamp"  # UTC time, YYYY-MM-DDTHH:MM:SSZ

    @property
    def numeric(self) -> bool:
        return self in (ColumnKind.INT, ColumnKind.REAL)


@dataclass(frozen=True)
class Unit:
    """An accepted unit: canonical value = value * mul / div."""

    label: str
    mul: float = 1.0
    div: float = 1.0


# Creatinine, molar mass 113.12 g/mol: 1 mg/dL = 88.4 umol/L (KDIGO 2012 CKD guideline, units table).
CREATININE_UMOL_L_PER_MG_DL = 88.4
# Haemoglobin as the monomer, molar mass 16 114.5 g/mol (ICSH reference method, J Clin Pathol
# 1996;49:271-274): 1 mmol/L = 1.611 g/dL; CTCAE v5.0 pairs 10.0 g/dL with 6.2 mmol/L.
HB_G_DL_PER_MMOL_L = 1.611
# Bilirubin, molar mass 584.7 g/mol: 1 mg/dL = 17.1 umol/L (AMA Manual of Style SI conversion table).
BILIRUBIN_UMOL_L_PER_MG_DL = 17.1
# The international avoirdupois pound is exactly 0.45359237 kg (International Yard and Pound
# Agreement, 1959).
LB_IN_KG = 0.45359237
# 1 Ci = 3.7e10 Bq by definition (CGPM 1964), so 1 mCi = 37 MBq = 0.037 GBq.
MBQ_PER_MCI = 37.0

_COUNT_UNITS = (Unit("10^3/µL"), Unit("G/L"), Unit("/nL"))  # all equal to 10^9/L


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an import table: type, unit(s), allowed values, as in schema.py."""

    name: str                 # store column (its name carries the canonical unit)
    kind: ColumnKind
    description: str
    required: bool = False
    label: str = ""           # header stem; defaults to name
    unit: str | None = None   # canonical unit of the store column
    alternatives: tuple[Unit, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    step: int | None = None
    choices: tuple[str, ...] = ()
    example: Any = None
    empty: Any = None         # value stored for an empty cell
    max_chars: int = MAX_TEXT_CHARS  # free text only

    @property
    def stem(self) -> str:
        return self.label or self.name

    @property
    def header(self) -> str:
        """The template header: stem and canonical unit, e.g. ``activity (GBq)``."""
        return f"{self.stem} ({self.unit})" if self.unit else self.stem

    @property
    def units(self) -> tuple[Unit, ...]:
        return ((Unit(self.unit),) + self.alternatives) if self.unit else ()

    def allowed(self) -> str:
        """Allowed values in words (the explanation sheet and error messages)."""
        if self.kind == ColumnKind.ENUM:
            return "one of: " + ", ".join(self.choices)
        if self.kind == ColumnKind.BOOL:
            return "1/0, yes/no or true/false"
        if self.kind == ColumnKind.DATE:
            return "a date, YYYY-MM-DD"
        if self.kind == ColumnKind.ID:
            return "1-32 letters, digits, '-' or '_'"
        if self.kind == ColumnKind.JSON:
            return f"a JSON object, at most {MAX_JSON_CHARS} characters"
        if self.kind == ColumnKind.TIMESTAMP:
            return "a UTC time, YYYY-MM-DDTHH:MM:SSZ"
        if self.kind.numeric:
            text = f"{'whole number' if self.kind == ColumnKind.INT else 'number'} in {self.range_text()}"
            return text + (f", a multiple of {self.step}" if self.step else "")
        return f"text, at most {self.max_chars} characters"

    def range_text(self) -> str:
        """The numeric range in interval notation with the canonical unit, e.g. ``(0, 15] GBq``."""
        lo, hi = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{lo}{self.low:g}, {self.high:g}{hi}" + (f" {self.unit}" if self.unit else "")


@dataclass(frozen=True)
class TableSpec:
    """One import table: natural key, columns, and the column that dates a row."""

    name: str
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    description: str
    date: str | None = None   # the column that dates a row (for "nothing after death")
    editable: bool = True     # False: rows are added by import or their own writer, never edited

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


def _patient(description: str = "Patient id as in the patients table or the database.") -> ColumnSpec:
    return ColumnSpec("patient_id", ColumnKind.ID, description, required=True, example=EXAMPLE_PATIENT_ID)


def _count(name: str, label: str, high: float, what: str, example: float) -> ColumnSpec:
    return ColumnSpec(name, ColumnKind.REAL, what, label=label, unit="10^9/L", alternatives=_COUNT_UNITS,
                      low=0, high=high, example=example)


_PHASES = ("initial", "salvage")
TABLES: dict[str, TableSpec] = {t.name: t for t in (
    TableSpec("patients", ("patient_id",), (
        _patient("Pseudonymous patient id, unique: 1-32 letters, digits, '-' or '_'. Never a "
                 "name, birth date or hospital number."),
        ColumnSpec("sex", ColumnKind.ENUM, "Sex.", required=True, choices=("M", "F"), example="F"),
        ColumnSpec("age_at_first_prrt_years", ColumnKind.INT, "Age at the first PRRT cycle.",
                   label="age_at_first_prrt", unit="years", low=0, high=120, example=62),
        ColumnSpec("primary_site", ColumnKind.ENUM, "Primary tumour site.", required=True, choices=(
            "small intestine", "pancreas", "lung", "CUP", "rectum", "colon", "stomach",
            "paraganglioma", "pheochromocytoma", "other"), example="small intestine"),
        ColumnSpec("tumour_grade", ColumnKind.ENUM, "WHO grade.", choices=("G1", "G2", "G3"), example="G2"),
        ColumnSpec("ki67_pct", ColumnKind.REAL, "Ki-67 proliferation index.", label="ki67", unit="%",
                   low=0, high=100, example=5.0),
        ColumnSpec("hypertension", ColumnKind.BOOL, "Arterial hypertension (renal risk factor).",
                   required=True, example=0),
        ColumnSpec("diabetes", ColumnKind.BOOL, "Diabetes mellitus (renal risk factor).", required=True,
                   example=0),
        ColumnSpec("other_renal_risk", ColumnKind.TEXT, "Other renal risk factors, free text.", example=""),
        ColumnSpec("prior_therapies", ColumnKind.TEXT, "Prior therapies, separated by ';'.",
                   example="surgery; somatostatin analogue"),
        ColumnSpec("weight_kg", ColumnKind.REAL, "Body weight (Cockcroft-Gault creatinine clearance, BSA).",
                   label="weight", unit="kg", alternatives=(Unit("lb", LB_IN_KG),), low=20, high=350,
                   example=72.0),
        ColumnSpec("height_cm", ColumnKind.REAL, "Height (body surface area).", label="height", unit="cm",
                   alternatives=(Unit("m", 100.0),), low=100, high=250, example=170.0),
        ColumnSpec("childbearing_potential", ColumnKind.BOOL, "Woman of child-bearing potential (empty: not "
                   "recorded).", example=""),
    ), "One row per patient."),
    TableSpec("cycles", ("patient_id", "cycle_number"), (
        _patient(),
        ColumnSpec("cycle_number", ColumnKind.INT, "Cycle number, counting initial and salvage cycles; "
                   "dates must increase with it.", required=True, low=1, high=30, example=1),
        ColumnSpec("phase", ColumnKind.ENUM, "Treatment phase; initial cycles precede salvage cycles.",
                   required=True, choices=_PHASES, example="initial"),
        ColumnSpec("cycle_date", ColumnKind.DATE, "Date of administration.", required=True,
                   example="2024-01-15"),
        ColumnSpec("activity_gbq", ColumnKind.REAL, "Administered 177Lu-DOTATATE activity.", required=True,
                   label="activity", unit="GBq",
                   alternatives=(Unit("MBq", 1.0, 1000.0), Unit("mCi", MBQ_PER_MCI, 1000.0)),
                   low=0, low_open=True, high=15, example=7.4),
    ), "One row per PRRT cycle.", date="cycle_date"),
    TableSpec("dosimetry", ("patient_id", "cycle_number", "organ", "label"), (
        _patient(),
        ColumnSpec("cycle_number", ColumnKind.INT, "The cycle (as in the cycles table or the database).",
                   required=True, low=1, high=30, example=1),
        ColumnSpec("organ", ColumnKind.ENUM, "Organ or tumour.", required=True, choices=(
            "kidneys", "kidney_left", "kidney_right", "tumour", "spleen", "liver",
            "bone_marrow"), example="kidneys"),
        ColumnSpec("label", ColumnKind.TEXT, "Distinguishes several VOIs of one organ (e.g. lesion name); "
                   "empty for one.", example="", empty=""),
        ColumnSpec("dose_gy", ColumnKind.REAL, "Absorbed dose of this cycle.", required=True, label="dose",
                   unit="Gy", low=0, high=500, example=3.9),
        ColumnSpec("t_eff_h", ColumnKind.REAL, "Effective half-life (at most the Lu-177 physical "
                   "half-life, 159.528 h).", label="t_eff", unit="h", low=0, low_open=True,
                   high=159.528, example=45.0),
        ColumnSpec("method", ColumnKind.TEXT, "Dosimetry method.", required=True,
                   example="SPECT/CT 3 time points (24, 48, 96 h)"),
        # A computed dose's provenance is JSON naming every SOP Instance UID of the series: longer than
        # free text (the Dosimetry page writes it; an export must import again).
        ColumnSpec("provenance", ColumnKind.TEXT, "Source of the value (report, software).", example="",
                   max_chars=MAX_JSON_CHARS),
        # Last, added with schema 4: workbooks laid out on an older template keep their columns.
        ColumnSpec("dose_sd_gy", ColumnKind.REAL, "1-sigma uncertainty of the dose (e.g. from the TAC fit), "
                   "when known.", label="dose_sd", unit="Gy", low=0, high=500, example=0.2),
    ), "One row per organ (and label) per cycle."),
    TableSpec("labs", ("patient_id", "lab_date"), (
        _patient(),
        ColumnSpec("lab_date", ColumnKind.DATE, "Date of the blood sample.", required=True,
                   example="2024-01-10"),
        ColumnSpec("hb_g_dl", ColumnKind.REAL, "Haemoglobin.", label="hb", unit="g/dL",
                   alternatives=(Unit("g/L", 1.0, 10.0), Unit("mmol/L", HB_G_DL_PER_MMOL_L)),
                   low=2, high=25, example=12.5),
        _count("plt_10e9_l", "plt", 2000, "Platelets.", 210.0),
        _count("wbc_10e9_l", "wbc", 500, "White blood cells.", 6.1),
        _count("neut_10e9_l", "neut", 200, "Neutrophils.", 3.9),
        _count("lymph_10e9_l", "lymph", 500, "Lymphocytes.", 1.5),
        ColumnSpec("creatinine_mg_dl", ColumnKind.REAL, "Serum creatinine.", label="creatinine",
                   unit="mg/dL", alternatives=(Unit("µmol/L", 1.0, CREATININE_UMOL_L_PER_MG_DL),),
                   low=0.1, high=30, example=0.9),
        ColumnSpec("egfr_ml_min_173m2", ColumnKind.REAL, "Estimated GFR.", label="egfr",
                   unit="mL/min/1.73 m²", low=0, high=200, example=85.0),
        ColumnSpec("egfr_equation", ColumnKind.ENUM, "Equation of the eGFR value.",
                   choices=("CKD-EPI 2021", "CKD-EPI 2009", "MDRD"), example="CKD-EPI 2021"),
        ColumnSpec("mag3_ter_ml_min_173m2", ColumnKind.REAL, "Tc-99m MAG3 tubular extraction rate.",
                   label="mag3_ter", unit="mL/min/1.73 m²", low=0, high=800, example=230.0),
        ColumnSpec("bilirubin_mg_dl", ColumnKind.REAL, "Total bilirubin.", label="bilirubin", unit="mg/dL",
                   alternatives=(Unit("µmol/L", 1.0, BILIRUBIN_UMOL_L_PER_MG_DL),),
                   low=0, high=50, example=0.6),
        ColumnSpec("albumin_g_dl", ColumnKind.REAL, "Serum albumin.", label="albumin", unit="g/dL",
                   alternatives=(Unit("g/L", 1.0, 10.0),), low=0.5, high=7, example=4.2),
    ), "One row per patient and sample date; at least one value.", date="lab_date"),
    TableSpec("assessments", ("patient_id", "assessment_date", "modality"), (
        _patient(),
        ColumnSpec("assessment_date", ColumnKind.DATE, "Date of imaging; follow-ups come after the "
                   "baseline of their phase.", required=True, example="2023-12-20"),
        ColumnSpec("phase", ColumnKind.ENUM, "Treatment phase the assessment belongs to.", required=True,
                   choices=_PHASES, example="initial"),
        ColumnSpec("role", ColumnKind.ENUM, "Baseline (before the phase) or follow-up.", required=True,
                   choices=("baseline", "follow-up"), example="baseline"),
        ColumnSpec("modality", ColumnKind.ENUM, "Imaging modality.", required=True,
                   choices=("Ga-68 DOTATATE PET/CT", "CT", "MRI"), example="Ga-68 DOTATATE PET/CT"),
        ColumnSpec("target_sum_mm", ColumnKind.REAL, "Sum of target-lesion diameters (RECIST 1.1).",
                   label="target_sum", unit="mm", alternatives=(Unit("cm", 10.0),),
                   low=0, high=2000, example=85.0),
        ColumnSpec("new_lesions", ColumnKind.BOOL, "New lesions found.", required=True, example=0),
        ColumnSpec("non_target", ColumnKind.ENUM, "Non-target lesion status.",
                   choices=("CR", "non-CR/non-PD", "PD", "NE"), example="non-CR/non-PD"),
        ColumnSpec("recist_recorded", ColumnKind.ENUM, "RECIST 1.1 response as reported.",
                   choices=("CR", "PR", "SD", "PD", "NE"), example=""),
        ColumnSpec("sstr_krenning_score", ColumnKind.INT, "SSTR expression, Krenning score.", low=0,
                   high=4, example=3),
    ), "One row per patient, date and modality.", date="assessment_date"),
    TableSpec("events", ("patient_id", "event_type", "phase"), (
        _patient(),
        ColumnSpec("event_date", ColumnKind.DATE, "Date of the event.", required=True, example="2025-03-01"),
        ColumnSpec("event_type", ColumnKind.ENUM, "Progression (one per phase), death or last contact.",
                   required=True, choices=("progression", "death", "last_contact"),
                   example="progression"),
        ColumnSpec("phase", ColumnKind.ENUM, "Phase whose progression this is; empty for death and last "
                   "contact.", choices=_PHASES, example="initial"),
    ), "Progression per phase, death, last contact.", date="event_date"),
    TableSpec("performance_status", ("patient_id", "status_date"), (
        _patient(),
        ColumnSpec("status_date", ColumnKind.DATE, "Date of the assessment.", required=True,
                   example="2024-01-05"),
        ColumnSpec("ecog", ColumnKind.INT, "ECOG performance status.", low=0, high=5, example=1),
        ColumnSpec("karnofsky_pct", ColumnKind.INT, "Karnofsky performance status.", label="karnofsky",
                   unit="%", low=0, high=100, step=10, example=80),
    ), "ECOG and/or Karnofsky per date.", date="status_date"),
    TableSpec("ssa_administrations", ("patient_id", "administration_date", "drug"), (
        _patient(),
        ColumnSpec("administration_date", ColumnKind.DATE, "Date of the injection.", required=True,
                   example="2024-01-02"),
        ColumnSpec("drug", ColumnKind.ENUM, "Somatostatin analogue; octreotide LAR and lanreotide are "
                   "long-acting (stopped >= 4 weeks before a cycle, Lutathera US PI 2.2).", required=True,
                   choices=("octreotide LAR", "lanreotide", "octreotide s.c."), example="octreotide LAR"),
        # Highest labelled doses: lanreotide 120 mg every 4 weeks (Somatuline Depot PI); 240 mg bounds
        # an off-label double dose and refuses a unit mix-up (micrograms typed as mg).
        ColumnSpec("dose_mg", ColumnKind.REAL, "Dose of the injection.", label="dose", unit="mg",
                   low=0, low_open=True, high=240, example=30.0),
    ), "One row per somatostatin-analogue injection.", date="administration_date"),
    TableSpec("findings", ("patient_id", "finding_date", "finding"), (
        _patient(),
        ColumnSpec("finding_date", ColumnKind.DATE, "Date the finding was made or checked.", required=True,
                   example="2024-01-05"),
        ColumnSpec("finding", ColumnKind.ENUM, "What was checked.", required=True, choices=(
            "pregnancy", "breast-feeding", "urinary obstruction", "urinary incontinence",
            "FDG-positive SSTR-negative disease"), example="pregnancy"),
        ColumnSpec("present", ColumnKind.BOOL, "1 = found; 0 = checked and absent (e.g. a negative "
                   "pregnancy test, an FDG PET without mismatch).", required=True, example=0),
    ), "Dated findings the eligibility checklist asks about.", date="finding_date"),
    TableSpec("board_decisions", ("patient_id", "record_number"), (
        _patient(),
        ColumnSpec("record_number", ColumnKind.INT, "Number of the record, 1, 2, ... per patient.",
                   required=True, low=1, high=1000, example=1),
        ColumnSpec("board_date", ColumnKind.DATE, "Date of the tumour board.", required=True,
                   example="2025-02-03"),
        ColumnSpec("decision", ColumnKind.ENUM, "The board's decision.", required=True,
                   choices=("salvage", "no salvage", "defer"), example="salvage"),
        ColumnSpec("n_cycles", ColumnKind.INT, "Salvage: further cycles (empty otherwise).", low=1, high=10,
                   example=2),
        ColumnSpec("activity_gbq", ColumnKind.REAL, "Salvage: activity per cycle (empty otherwise).",
                   label="activity", unit="GBq", alternatives=(Unit("MBq", 1.0, 1000.0),),
                   low=0, low_open=True, high=15, example=7.4),
        ColumnSpec("defer_until", ColumnKind.DATE, "Defer: the date to decide again (after the board date).",
                   example=""),
        ColumnSpec("attendees", ColumnKind.TEXT, "Who attended (names or roles, separated by ';').",
                   required=True, example="oncology; nuclear medicine; medical physics"),
        ColumnSpec("rationale", ColumnKind.TEXT, "Why the board decided so.", required=True, max_chars=2000,
                   example="Disease control 30 months after initial PRRT; kidney BED within limits."),
        ColumnSpec("snapshot_json", ColumnKind.JSON, "What the board saw (verdict, checklist, projection, "
                   "settings, data revision), as exported.", required=True, label="snapshot", example="{}"),
        ColumnSpec("signed_by", ColumnKind.TEXT, "Who signed the record.", required=True, max_chars=200,
                   example="chair@example.org"),
        ColumnSpec("signed_at_utc", ColumnKind.TIMESTAMP, "When it was signed (UTC).", required=True,
                   label="signed_at", unit="UTC", example="2025-02-03T15:30:00Z"),
        ColumnSpec("supersedes_record", ColumnKind.INT, "The earlier record of this patient that this one "
                   "replaces (empty for none).", low=1, high=999, example=""),
    ), "Signed tumour-board decisions; a signed record is never changed, only superseded.",
        date="board_date", editable=False),
)}
# The tables the Data page's editor offers (a signed decision is recorded on the Planner page).
EDITABLE_TABLES = tuple(name for name, spec in TABLES.items() if spec.editable)

