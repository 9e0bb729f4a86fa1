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

# Version 3 (issue 13): what the eligibility criteria need as their sources state them —
# weight and height (Cockcroft-Gault creatinine clearance, BSA), child-bearing potential,
# the eGFR equation, somatostatin-analogue administrations and dated findings (pregnancy,
# breast-feeding, urinary obstruction/incontinence, FDG-positive SSTR-negative disease) —
# and the tumour board's signed decision records. A signed record is never changed or
# deleted (the triggers below); a later record supersedes it by number.
MIGRATION_3 = """
ALTER TABLE patients ADD COLUMN weight_kg REAL
    CONSTRAINT weight_kg CHECK (weight_kg BETWEEN 20 AND 350);
ALTER TABLE patients ADD COLUMN height_cm REAL
    CONSTRAINT height_cm CHECK (height_cm BETWEEN 100 AND 250);
ALTER TABLE patients ADD COLUMN childbearing_potential INTEGER
    CONSTRAINT childbearing_potential CHECK (childbearing_potential IN (0, 1));
ALTER TABLE labs ADD COLUMN egfr_equation TEXT
    CONSTRAINT egfr_equation CHECK (egfr_equation IN ('CKD-EPI 2021', 'CKD-EPI 2009', 'MDRD'));

CREATE TABLE ssa_administrations (
    ssa_id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(patient_id) ON DELETE CASCADE,
    administration_date TEXT NOT NULL
        CONSTRAINT administration_date CHECK (administration_date IS date(julianday(administration_date))),
    drug TEXT NOT NULL CONSTRAINT drug CHECK (drug IN ('octreotide LAR', 'lanreotide', 'octreotide s.c.')),
    dose_mg REAL CONSTRAINT dose_mg CHECK (dose_mg > 0 AND dose_mg <= 240),
    UNIQUE (patient_id, administration_date, drug)
);
CREATE INDEX ssa_patient ON ssa_administrations(patient_id, administration_date);

CREATE TABLE findings (
    finding_id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(patient_id) ON DELETE CASCADE,
    finding_date TEXT NOT NULL
        CONSTRAINT finding_date CHECK (finding_date IS date(julianday(finding_date))),
    finding TEXT NOT NULL CONSTRAINT finding CHECK (finding IN (
        'pregnancy', 'breast-feeding', 'urinary obstruction', 'urinary incontinence',
        'FDG-positive SSTR-negative disease')),
    present INTEGER NOT NULL CONSTRAINT present CHECK (present IN (0, 1)),
    UNIQUE (patient_id, finding_date, finding)
);
CREATE INDEX findings_patient ON findings(patient_id, finding_date);

CREATE TABLE board_decisions (
    decision_id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(patient_id),
    record_number INTEGER NOT NULL CONSTRAINT record_number CHECK (record_number BETWEEN 1 AND 1000),
    board_date TEXT NOT NULL CONSTRAINT board_date CHECK (board_date IS date(julianday(board_date))),
    decision TEXT NOT NULL CONSTRAINT decision CHECK (decision IN ('salvage', 'no salvage', 'defer')),
    n_cycles INTEGER CONSTRAINT n_cycles CHECK (n_cycles BETWEEN 1 AND 10),
    activity_gbq REAL CONSTRAINT activity_gbq CHECK (activity_gbq > 0 AND activity_gbq <= 15),
    defer_until TEXT CONSTRAINT defer_until CHECK (defer_until IS date(julianday(defer_until))),
    attendees TEXT NOT NULL CONSTRAINT attendees CHECK (length(attendees) BETWEEN 1 AND 500),
    rationale TEXT NOT NULL CONSTRAINT rationale CHECK (length(rationale) BETWEEN 1 AND 2000),
    snapshot_json TEXT NOT NULL CONSTRAINT snapshot_json CHECK (
        json_valid(snapshot_json) AND json_type(snapshot_json) = 'object' AND length(snapshot_json) <= 65536),
    signed_by TEXT NOT NULL CONSTRAINT signed_by CHECK (length(signed_by) BETWEEN 1 AND 200),
    signed_at_utc TEXT NOT NULL CONSTRAINT signed_at_utc CHECK (
        signed_at_utc IS strftime('%Y-%m-%dT%H:%M:%SZ', julianday(signed_at_utc))),
    supersedes_record INTEGER CONSTRAINT supersedes_record CHECK (supersedes_record < record_number),
    -- How the row came here: signed on the planner by the editor named in signed_by, or imported
    -- (signed_by and signed_at_utc are then what the file said; the audit row names the importer).
    recorded_via TEXT NOT NULL DEFAULT 'import' CONSTRAINT recorded_via CHECK (recorded_via IN ('planner', 'import')),
    CONSTRAINT decision_details CHECK (
        (decision = 'salvage' AND n_cycles IS NOT NULL AND activity_gbq IS NOT NULL AND defer_until IS NULL)
        OR (decision = 'no salvage' AND n_cycles IS NULL AND activity_gbq IS NULL AND defer_until IS NULL)
        OR (decision = 'defer' AND n_cycles IS NULL AND activity_gbq IS NULL AND defer_until > board_date)),
    UNIQUE (patient_id, record_number),
    UNIQUE (patient_id, supersedes_record),
    FOREIGN KEY (patient_id, supersedes_record) REFERENCES board_decisions(patient_id, record_number)
);
CREATE INDEX board_decisions_patient ON board_decisions(patient_id, board_date);
CREATE TRIGGER board_decisions_signed_no_update BEFORE UPDATE ON board_decisions
BEGIN SELECT RAISE(ABORT, 'board_decisions: a signed decision is never changed; record one that supersedes it'); END;
CREATE TRIGGER board_decisions_signed_no_delete BEFORE DELETE ON board_decisions
BEGIN SELECT RAISE(ABORT, 'board_decisions: a signed decision is never deleted; record one that supersedes it'); END;
"""

# Version 4 (issue 16): the 1-sigma uncertainty of a stored dose (from the TAC fit's parameter
# covariance, EANM guideline on uncertainty analysis, Gear et al. EJNMMI 2018;45:2456), when known.
MIGRATION_4 = """
ALTER TABLE dosimetry ADD COLUMN dose_sd_gy REAL
    CONSTRAINT dose_sd_gy CHECK (dose_sd_gy >= 0 AND dose_sd_gy <= 500);
"""

MIGRATIONS: tuple[str, ...] = (MIGRATION_1, MIGRATION_2, MIGRATION_3, MIGRATION_4)
SCHEMA_VERSION = len(MIGRATIONS)

# Clinical tables in dependency order (a parent before its children), and the date
# columns of each (the first one dates the row): prrt_core.tables is their one home.
CLINICAL_TABLES = TABLE_NAMES
DATE_COLUMNS = {name: (column,) for name, column in DATE_COLUMN.items()} | {
    "board_decisions": ("board_date", "defer_until")}
BOOL_COLUMNS = {
    "patients": ("hypertension", "diabetes"),
    "assessments": ("new_lesions",),
    "findings": ("present",),
}
# Yes/no columns that may be unrecorded (read as pandas' nullable "boolean").
NULLABLE_BOOL_COLUMNS = {"patients": ("childbearing_potential",)}
PRIMARY_KEYS = {
    "patients": "patient_id", "cycles": "cycle_id", "dosimetry": "dosimetry_id",
    "labs": "lab_id", "assessments": "assessment_id", "events": "event_id",
    "performance_status": "performance_id", "ssa_administrations": "ssa_id", "findings": "finding_id",
    "board_decisions": "decision_id", "audit": "audit_id", "meta": "key",
}
