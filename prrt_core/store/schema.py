"""Store schema: the DDL of every version, applied in order as forward migrations.

A migration, once released, never changes: a new need is a new migration.
Column names carry their units; CHECK constraints are named after their column
so that a rejected value can be reported by field (``CHECK constraint failed:
activity_gbq``). Physiological bounds are deliberately wide: they reject
impossible values and unit mix-ups (Hb 120 g/L typed as g/dL), not abnormal
ones.
"""

from __future__ import annotations

from prrt_core.tables import DATE_COLUMN, TABLE_NAMES

# ISO-8601 calendar dates are checked as "x IS date(julianday(x))": julianday()
# turns an impossible date such as 2021-02-30 into 2021-03-02, so it is rejected
# (SQLite 3.40's date() alone echoes it back unchanged).

MIGRATION_1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE patients (
    patient_id TEXT PRIMARY KEY
        CONSTRAINT patient_id CHECK (length(patient_id) BETWEEN 1 AND 32
                                     AND patient_id NOT GLOB '*[^A-Za-z0-9_-]*'),
    sex TEXT NOT NULL CONSTRAINT sex CHECK (sex IN ('M', 'F')),
    age_at_first_prrt_years INTEGER
        CONSTRAINT age_at_first_prrt_years CHECK (age_at_first_prrt_years BETWEEN 0 AND 120),
    primary_site TEXT NOT NULL CONSTRAINT primary_site CHECK (primary_site IN (
        'small intestine', 'pancreas', 'lung', 'CUP', 'rectum', 'colon',
        'stomach', 'paraganglioma', 'pheochromocytoma', 'other')),
    tumour_grade TEXT CONSTRAINT tumour_grade CHECK (tumour_grade IN ('G1', 'G2', 'G3')),
    ki67_pct REAL CONSTRAINT ki67_pct CHECK (ki67_pct BETWEEN 0 AND 100),
    hypertension INTEGER NOT NULL CONSTRAINT hypertension CHECK (hypertension IN (0, 1)),
    diabetes INTEGER NOT NULL CONSTRAINT diabetes CHECK (diabetes IN (0, 1)),
    other_renal_risk TEXT,
    prior_therapies TEXT
);

CREATE TABLE cycles (
    cycle_id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(patient_id) ON DELETE CASCADE,
    cycle_number INTEGER NOT NULL CONSTRAINT cycle_number CHECK (cycle_number BETWEEN 1 AND 30),
    phase TEXT NOT NULL CONSTRAINT phase CHECK (phase IN ('initial', 'salvage')),
    cycle_date TEXT NOT NULL CONSTRAINT cycle_date CHECK (cycle_date IS date(julianday(cycle_date))),
    activity_gbq REAL NOT NULL CONSTRAINT activity_gbq CHECK (activity_gbq > 0 AND activity_gbq <= 15),
    UNIQUE (patient_id, cycle_number)
);

CREATE TABLE dosimetry (
    dosimetry_id INTEGER PRIMARY KEY,
    cycle_id INTEGER NOT NULL REFERENCES cycles(cycle_id) ON DELETE CASCADE,
    organ TEXT NOT NULL CONSTRAINT organ CHECK (organ IN (
        'kidneys', 'kidney_left', 'kidney_right', 'tumour', 'spleen', 'liver', 'bone_marrow')),
    label TEXT NOT NULL DEFAULT '',
    dose_gy REAL NOT NULL CONSTRAINT dose_gy CHECK (dose_gy >= 0 AND dose_gy <= 500),
    t_eff_h REAL CONSTRAINT t_eff_h CHECK (t_eff_h > 0 AND t_eff_h <= 159.528),
    method TEXT NOT NULL,
    provenance TEXT,
    UNIQUE (cycle_id, organ, label)
);

CREATE TABLE labs (
    lab_id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(patient_id) ON DELETE CASCADE,
    lab_date TEXT NOT NULL CONSTRAINT lab_date CHECK (lab_date IS date(julianday(lab_date))),
    hb_g_dl REAL CONSTRAINT hb_g_dl CHECK (hb_g_dl BETWEEN 2 AND 25),
    plt_10e9_l REAL CONSTRAINT plt_10e9_l CHECK (plt_10e9_l BETWEEN 0 AND 2000),
    wbc_10e9_l REAL CONSTRAINT wbc_10e9_l CHECK (wbc_10e9_l BETWEEN 0 AND 500),
    neut_10e9_l REAL CONSTRAINT neut_10e9_l CHECK (neut_10e9_l BETWEEN 0 AND 200),
    lymph_10e9_l REAL CONSTRAINT lymph_10e9_l CHECK (lymph_10e9_l BETWEEN 0 AND 500),
    creatinine_mg_dl REAL CONSTRAINT creatinine_mg_dl CHECK (creatinine_mg_dl BETWEEN 0.1 AND 30),
    egfr_ml_min_173m2 REAL CONSTRAINT egfr_ml_min_173m2 CHECK (egfr_ml_min_173m2 BETWEEN 0 AND 200),
    mag3_ter_ml_min_173m2 REAL
        CONSTRAINT mag3_ter_ml_min_173m2 CHECK (mag3_ter_ml_min_173m2 BETWEEN 0 AND 800),
    UNIQUE (patient_id, lab_date)
);

CREATE TABLE assessments (
    assessment_id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(patient_id) ON DELETE CASCADE,
    assessment_date TEXT NOT NULL
        CONSTRAINT assessment_date CHECK (assessment_date IS date(julianday(assessment_date))),
    phase TEXT NOT NULL CONSTRAINT phase CHECK (phase IN ('initial', 'salvage')),
    role TEXT NOT NULL CONSTRAINT role CHECK (role IN ('baseline', 'follow-up')),
    modality TEXT NOT NULL CONSTRAINT modality CHECK (modality IN (
        'Ga-68 DOTATATE PET/CT', 'CT', 'MRI')),
    target_sum_mm REAL CONSTRAINT target_sum_mm CHECK (target_sum_mm >= 0 AND target_sum_mm <= 2000),
    new_lesions INTEGER NOT NULL CONSTRAINT new_lesions CHECK (new_lesions IN (0, 1)),
    non_target TEXT CONSTRAINT non_target CHECK (non_target IN ('CR', 'non-CR/non-PD', 'PD', 'NE')),
    recist_recorded TEXT CONSTRAINT recist_recorded CHECK (recist_recorded IN ('CR', 'PR', 'SD', 'PD', 'NE')),
    UNIQUE (patient_id, assessment_date, modality)
);

CREATE TABLE events (
    event_id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(patient_id) ON DELETE CASCADE,
    event_date TEXT NOT NULL CONSTRAINT event_date CHECK (event_date IS date(julianday(event_date))),
    event_type TEXT NOT NULL CONSTRAINT event_type CHECK (event_type IN (
        'progression', 'death', 'last_contact')),
    phase TEXT CONSTRAINT phase CHECK (
        (event_type = 'progression' AND phase IS NOT NULL AND phase IN ('initial', 'salvage'))
        OR (event_type <> 'progression' AND phase IS NULL))
);
-- One progression per phase, one death, one last contact per patient.
CREATE UNIQUE INDEX events_one_per_kind ON events(patient_id, event_type, ifnull(phase, ''));

CREATE TABLE audit (
    audit_id INTEGER PRIMARY KEY,
    at_utc TEXT NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL CONSTRAINT action CHECK (action IN (
        'insert', 'update', 'delete', 'import', 'demo', 'migrate')),
    table_name TEXT NOT NULL,
    row_key TEXT,
    before_json TEXT,
    after_json TEXT
);

CREATE INDEX cycles_patient ON cycles(patient_id, cycle_date);
CREATE INDEX dosimetry_cycle ON dosimetry(cycle_id);
CREATE INDEX labs_patient ON labs(patient_id, lab_date);
CREATE INDEX assessments_patient ON assessments(patient_id, assessment_date);
CREATE INDEX events_patient ON events(patient_id, event_date);
"""

# Version 2: what the salvage eligibility checklist needs beyond version 1 —
# liver function, SSTR expression and performance status.
MIGRATION_2 = """
ALTER TABLE labs ADD COLUMN bilirubin_mg_dl REAL
    CONSTRAINT bilirubin_mg_dl CHECK (bilirubin_mg_dl BETWEEN 0 AND 50);
ALTER TABLE labs ADD COLUMN albumin_g_dl REAL
    CONSTRAINT albumin_g_dl CHECK (albumin_g_dl BETWEEN 0.5 AND 7);
ALTER TABLE assessments ADD COLUMN sstr_krenning_score INTEGER
    CONSTRAINT sstr_krenning_score CHECK (sstr_krenning_score BETWEEN 0 AND 4);

CREATE TABLE performance_status (
    performance_id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(patient_id) ON DELETE CASCADE,
    status_date TEXT NOT NULL CONSTRAINT status_date CHECK (status_date IS date(julianday(status_date))),
    ecog INTEGER CONSTRAINT ecog CHECK (ecog BETWEEN 0 AND 5),
    karnofsky_pct INTEGER CONSTRAINT karnofsky_pct CHECK (karnofsky_pct BETWEEN 0 AND 100
                                                         AND karnofsky_pct % 10 = 0),
    CONSTRAINT performance_value CHECK (ecog IS NOT NULL OR karnofsky_pct IS NOT NULL),
    UNIQUE (patient_id, status_date)
);
CREATE INDEX performance_patient ON performance_status(patient_id, status_date);
"""

MIGRATIONS: tuple[str, ...] = (MIGRATION_1, MIGRATION_2)
SCHEMA_VERSION = len(MIGRATIONS)

# Clinical tables in dependency order (a parent before its children), and the date
# columns of each (the first one dates the row): prrt_core.tables is their one home.
CLINICAL_TABLES = TABLE_NAMES
DATE_COLUMNS = {name: (column,) for name, column in DATE_COLUMN.items()}
BOOL_COLUMNS = {
    "patients": ("hypertension", "diabetes"),
    "assessments": ("new_lesions",),
}
PRIMARY_KEYS = {
    "patients": "patient_id", "cycles": "cycle_id", "dosimetry": "dosimetry_id",
    "labs": "lab_id", "assessments": "assessment_id", "events": "event_id",
    "performance_status": "performance_id", "audit": "audit_id", "meta": "key",
}
