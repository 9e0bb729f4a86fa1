"""Data: import, edit, export and back up the clinical record; the audit log.

Checks and writes live in prrt_core; every write names this session's actor. Uploads are released once used.
"""

import datetime as dt

import streamlit as st

from prrt_core import importer
from prrt_core.errors import PrrtError
from prrt_core.store import Store, access, backup
from ui import database, editor_columns, identity, navigation, network
from ui.text import md

navigation.ensure_navigation()

actor = identity.current_actor()
path, revision = database.store_revision()

st.title("Data")
database.demo_notice()


@st.cache_data(show_spinner="Checking every row ...", max_entries=2)
def _check(db: str, rev: int, files: tuple[tuple[str, bytes], ...]) -> importer.Plan:
    with Store(db) as store:
        return importer.check_import(store, importer.read_files(files))


@st.cache_data(show_spinner=False, max_entries=8)
def _editable(db: str, rev: int, table: str, patient: str | None):
    return importer.editable_frame(database.tables(), table, patient)


@st.cache_data(show_spinner=False, max_entries=2)
def _audit(db: str, rev: int):
    with Store(db) as store:
        return store.read("audit")


def _problems(plan: importer.Plan, what: str) -> None:
    st.error(f"{len(plan.problems)} problem(s) found; nothing was written. Fix {what} and try again.")
    st.dataframe(plan.problems, hide_index=True, width="stretch")


def _write(message: str, what: str, commit, uploads=(), files=()) -> None:
    """``commit(store)`` as this session's actor: the problems, or rerun with a summary (imported
    ``uploads`` released: the uploader comes back empty, and the rerun checks their ``files`` once more)."""
    st.session_state.pop("pending_delete", None)
    try:
        with Store(path) as store:
            plan = commit(store)
    except importer.ImportRejected as exc:
        return _problems(exc.plan, what)
    except PrrtError as exc:  # e.g. a read-only database, a write without an editor
        return st.error(f"Nothing was written: {md(exc)}")
    st.session_state["data_done"] = (message, plan.summary())
    st.session_state["edit_version"] = st.session_state.get("edit_version", 0) + 1
    if uploads:
        network.release("import_files", uploads)
        st.session_state["import_recheck"] = files
    st.rerun()


@st.dialog("Delete rows?")
def _confirm_delete() -> None:
    pending = st.session_state["pending_delete"]
    st.warning(md(pending["text"]).replace(md(bold := f"**{pending['table']}**"), bold))  # only the table bold
    left, right = st.columns(2)
    if left.button("Delete", type="primary", key="confirm_delete"):
        _write("Saved.", "the table", lambda store: importer.commit_edits(
            store, pending["table"], pending["original"], pending["edited"], actor=actor))
    if right.button("Cancel", key="cancel_delete"):
        st.session_state.pop("pending_delete")
        st.rerun()


@st.dialog("Restore this backup?")
def _confirm_restore(upload) -> None:
    st.write(f"The whole database is replaced by **{md(upload.name)}**. The current database is saved beside it first.")
    if st.button("Restore", type="primary", key="confirm_restore"):
        try:
            saved = backup.restore_data(upload.getvalue(), upload.name, path, actor=actor)
        except PrrtError as exc:
            return st.error(f"Nothing was restored: {md(exc)}")
        st.cache_data.clear()  # a restored file may reuse revision numbers seen before
        st.session_state.pop("pending_restore", None)
        st.session_state["data_done"] = (f"Restored from {md(upload.name)}; the previous database "
                                         f"was saved as {md(saved.name)}.", None)
        network.release("restore_file", [upload])
        st.rerun()


if done := st.session_state.pop("data_done", None):
    st.success(done[0])
    if done[1] is not None:
        st.dataframe(done[1], hide_index=True)

tab_import, tab_edit, tab_export, tab_audit = st.tabs(["Import", "Edit", "Export and backup", "Audit log"])

with tab_import:
    st.download_button("Download the import template (.xlsx)", importer.template_workbook, "prrt_import_template.xlsx",
                       key="template", mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    st.caption(f"CSV files named after their table (patients.csv, cycles.csv, ...), the workbook, or an export zip; "
               f"at most {importer.MAX_FILE_MB} MB per file. Every row is checked before anything is written; "
               "existing rows are updated, none deleted.")
    uploads = actor.can_write and st.file_uploader("Files to import", accept_multiple_files=True,
                                                   key=network.uploader_key("import_files"))
    if not actor.can_write:
        st.info("Viewers cannot import.")
    elif files := tuple((f.name, f.getvalue()) for f in uploads) or st.session_state.pop("import_recheck", ()):
        plan = _check(path, revision, files)
        if not plan.ok:
            _problems(plan, "the files")
        elif plan.n_writes == 0:
            st.success("Nothing to import: every row is already in the database.")
        else:
            st.dataframe(plan.summary(), hide_index=True)
            with st.expander("Rows to add or update"):
                st.dataframe(plan.changes, hide_index=True, width="stretch")
            if st.button(f"Import {plan.n_writes} row(s)", type="primary", key="import"):
                _write("Imported.", "the files", lambda store: importer.commit_import(
                    store, importer.read_files(files), actor=actor), uploads, files)

with tab_edit:
    left, right = st.columns(2)
    table = left.selectbox("Table", list(importer.EDITABLE_TABLES), key="edit_table")
    patients = ["All patients"] + sorted(database.tables().patients["patient_id"])
    who = right.selectbox("Patient", patients, key="edit_patient")
    spec = importer.TABLES[table]
    config = editor_columns.column_config(spec)
    original = _editable(path, revision, table, None if who == patients[0] else who)
    if not actor.can_write:
        st.dataframe(original, column_config=config, width="stretch")
    else:
        key = f"editor_{table}_{who}_{st.session_state.get('edit_version', 0)}"
        original = st.session_state.setdefault(f"snapshot_{key}", original)
        edited = st.data_editor(original, column_config=config, num_rows="dynamic", key=key, width="stretch")
        editor_columns.warn_about_cells(table, original, edited)  # e.g. a date typed as 21-01-01
        st.caption("Add rows at the bottom, select rows to delete them; Save checks every "
                   "change like an import. Rows changed by someone else meanwhile are refused.")
        save, reload = st.columns([1, 5])
        if save.button("Save changes", type="primary", key="save_edits"):
            with Store(path) as store:
                plan = importer.check_edits(store, table, original, edited)
            if not plan.ok:
                _problems(plan, "the table")
            elif plan.n_writes == 0:
                st.info("No changes to save.")
            elif plan.deletes.get(table):
                st.session_state["pending_delete"] = {"table": table, "original": original, "edited": edited,
                                                      "text": importer.delete_text(database.tables(), plan, table)}
            else:
                _write("Saved.", "the table", lambda store: importer.commit_edits(
                    store, table, original, edited, actor=actor))
        if reload.button("Discard changes and reload", key="reload_edits"):
            st.session_state["edit_version"] = st.session_state.get("edit_version", 0) + 1
            st.rerun()
        if st.session_state.get("pending_delete"):
            _confirm_delete()

with tab_export:
    if not actor.can_write:  # a copy of the whole registry leaves the hospital's control: editors only
        st.info("Exports and backups of the whole record are for editors.")
    else:
        today = dt.date.today().isoformat()
        st.download_button("Export every table (CSV, zip)", lambda: importer.export_zip(path),
                           f"prrt_export_{today}.zip", mime="application/zip", key="export_zip")
        st.caption("Import form (natural keys, units in the column names) plus the audit log. Text "
                   "that a spreadsheet would run as a formula starts with an apostrophe.")
        st.download_button("Download a backup (SQLite)", lambda: backup.backup_bytes(path),
                           f"prrt_backup_{today}.sqlite", mime="application/vnd.sqlite3", key="backup")
        if upload := st.file_uploader("Restore from a backup", key=network.uploader_key("restore_file")):
            try:
                info = backup.check_backup_data(upload.getvalue(), upload.name)
            except backup.BackupError as exc:
                st.error(f"Cannot restore {md(exc)}")  # the message quotes the file name
            else:
                st.write(f"Backup of schema version {info.schema_version}: "
                         + md(", ".join(f"{n} {t}" for t, n in info.rows.items())) + ".")
                if st.button("Restore this backup ...", key="restore"):
                    st.session_state["pending_restore"] = True
                if st.session_state.get("pending_restore"):
                    _confirm_restore(upload)

with tab_audit:
    audit = _audit(path, revision)
    a, b, c, d = st.columns(4)
    users = a.multiselect("User", sorted(audit["user"].unique()), key="audit_users")
    tables = b.multiselect("Table", sorted(audit["table_name"].unique()), key="audit_tables")
    actions = c.multiselect("Action", sorted(audit["action"].unique()), key="audit_actions")
    text = d.text_input("Key or value contains", key="audit_text")
    shown = access.audit_log(audit, users=users, tables=tables, actions=actions, text=text)
    st.caption(f"{len(shown)} of {len(audit)} audit rows, newest first (times in UTC).")
    st.dataframe(shown, hide_index=True, width="stretch")
