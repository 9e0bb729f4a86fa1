"""SPECT from a PACS over DICOMweb (prrt_core.dicom.pacs) against a real Orthanc (tests/orthanc.py).

The phantom's left kidney receives 0.60 MBq/mL x 45 h / ln2 x 0.085335 Gy g/(MBq h) / 1.04 g/mL
= 3.196 Gy (prrt_core.testing.phantom, Phantom.expected_dose_gy; derivation in
tests/unit/test_voxel.py): retrieved from the PACS, the study must give the same dose.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import io
import json
import logging
import sys
import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from prrt_core.cli.main import main
from prrt_core.dicom import study_dose
from prrt_core.dicom.pacs import (
    PacsError,
    PacsSettings,
    RetrievalLimits,
    checked_patient_id,
    retrieve_series,
    search_pacs,
    search_series,
    series_table,
)
from prrt_core.dicom.pacs import search as search_module
from prrt_core.dicom.pacs.search import first_of, uid_of
from prrt_core.dosimetry.voxel import TISSUE_DENSITY_G_PER_ML
from prrt_core.errors import ConfigError, DicomError, InputError
from prrt_core.store import Store
from prrt_core.testing import phantom
from tests import support
from tests.pages.test_sign_in import AUTH, ROLES
from tests.support import editor, free_port
from ui.pacs import FOUND, PATIENT_WIDGET

FROM, TO = dt.date(2024, 3, 1), dt.date(2024, 3, 31)  # the phantom's injection: 2024-03-04 09:30
PATIENT = {"patient_id": "NET-PACS", "sex": "F", "primary_site": "pancreas", "hypertension": 0, "diabetes": 0}
CYCLE = {"patient_id": "NET-PACS", "cycle_number": 1, "phase": "initial", "cycle_date": "2024-03-04",
         "activity_gbq": 7.4}


def settings(pacs, **changes) -> PacsSettings:
    return PacsSettings.from_mapping(pacs.server.pacs_table(**changes))


@pytest.fixture(scope="module")
def found(pacs):
    return search_series(settings(pacs), pacs.lu177_patient_id, FROM, TO)


def test_search_lists_the_phantoms_time_points_and_vois(pacs, found):
    nm = [s for s in found if s.modality == "NM"]
    assert [s.hours_after_injection for s in nm] == pytest.approx(list(pacs.phantom.times_h))
    assert all(s.injection_datetime == pacs.phantom.injection_time for s in nm)
    assert all(s.study_instance_uid == pacs.phantom.study_uid and s.instance_count == 1 for s in nm)
    assert [s.modality for s in found if not s.is_time_point] == ["SEG"]
    table = series_table(found)
    assert list(table["Time after injection (h)"].dropna()) == [4.0, 24.0, 48.0, 96.0, 168.0]
    shown = repr(found) + table.to_string()
    assert phantom.FAKE_PATIENT_ID not in shown and "SECRETNAME" not in shown


def test_search_of_another_patient_or_date_range_finds_nothing_of_the_phantom(pacs):
    assert search_series(settings(pacs), pacs.lu177_patient_id, dt.date(2023, 1, 1), dt.date(2023, 12, 31)) == []
    ga68 = search_series(settings(pacs), pacs.ga68_patient_id, FROM, TO)
    assert {s.study_instance_uid for s in ga68} == {"1.2.826.0.1.3680043.10.1456.68"}
    # Ga-68, 67.71 min = 1.13 h (tests/orthanc.py): flagged in the list already.
    assert all("not Lu-177" in s.note for s in ga68 if s.is_time_point)


def test_retrieved_series_give_the_phantoms_kidney_dose(pacs, found, caplog):
    caplog.set_level(logging.DEBUG)
    steps = []
    files = retrieve_series(settings(pacs), found, progress=lambda f, m: steps.append(f))
    assert len(files) == 6 and all(name.startswith("pacs/") for name, _ in files)
    assert steps[-1] == 1.0 and steps == sorted(steps)
    result = study_dose.analyse(files, density_g_per_ml=TISSUE_DENSITY_G_PER_ML)
    expected = pacs.phantom.expected_dose_gy("Kidney left", TISSUE_DENSITY_G_PER_ML)
    assert expected == pytest.approx(3.1962, abs=1e-3)
    assert result.organ_dose("kidney_left") == pytest.approx(expected, rel=0.02)
    names = " ".join(name for name, _ in files)
    assert phantom.FAKE_PATIENT_ID not in names and phantom.FAKE_PATIENT_ID not in caplog.text


def test_the_patient_id_is_never_logged(pacs, caplog):
    caplog.set_level(logging.DEBUG)
    search_series(settings(pacs), pacs.lu177_patient_id, FROM, TO)
    with pytest.raises(PacsError) as refused:
        search_series(settings(pacs, password="wrong"), pacs.lu177_patient_id, FROM, TO)
    assert "PatientID=<not shown>" in caplog.text  # the libraries' debug lines were there, redacted
    assert pacs.lu177_patient_id not in caplog.text and pacs.lu177_patient_id not in str(refused.value)


def test_wrong_credentials_are_named(pacs):
    with pytest.raises(PacsError, match=r"HTTP 401: the credentials were refused") as refused:
        search_series(settings(pacs, password="wrong"), pacs.lu177_patient_id, FROM, TO)
    assert refused.value.server == pacs.server.dicomweb_url and "wrong" not in str(refused.value)


def test_an_unreachable_pacs_is_named():
    url = f"http://127.0.0.1:{free_port()}/dicom-web"  # nothing listens there
    with pytest.raises(PacsError, match="unreachable") as refused:
        search_series(PacsSettings(url, timeout_s=5), phantom.FAKE_PATIENT_ID, FROM, TO)
    assert str(refused.value).startswith(f"PACS {url}: QIDO-RS studies")
    assert phantom.FAKE_PATIENT_ID not in str(refused.value)


def test_another_radionuclide_is_refused_naming_the_tag(pacs):
    ga68 = search_series(settings(pacs), pacs.ga68_patient_id, FROM, TO)
    files = retrieve_series(settings(pacs), ga68)
    with pytest.raises(DicomError, match=r"RadionuclideHalfLife \(0018,1075\): is 4063 s .* not Lu-177"):
        study_dose.analyse(files)


def test_a_single_time_point_is_refused(pacs, found):
    one = [s for s in found if s.modality == "NM"][:1] + [s for s in found if s.modality == "SEG"]
    with pytest.raises(DicomError, match="only one SPECT time point"):
        study_dose.analyse(retrieve_series(settings(pacs), one))


def test_retrieval_is_bounded(pacs, found):
    nm = [s for s in found if s.modality == "NM"]
    # One NM file is 40 x 64 x 64 x 2 bytes of pixels (328 kB): over a 100 kB instance bound.
    with pytest.raises(PacsError, match=r"WADO-RS instance 1 of 1 of series .*: answer too large: more than 0.10 MB"):
        retrieve_series(settings(pacs), nm[:1], limits=RetrievalLimits(instance_bytes=100_000))
    with pytest.raises(PacsError, match=r"instance 2 of 2 .*answer too large"):
        retrieve_series(settings(pacs), nm[:2], limits=RetrievalLimits(total_bytes=500_000))
    with pytest.raises(PacsError, match=r"more than 2 instances"):
        retrieve_series(settings(pacs), nm[:3], limits=RetrievalLimits(instances=2))


@pytest.mark.parametrize(("table", "message"), [
    ({"url": "ftp://pacs.example.org/dicom-web"}, "scheme 'ftp' is not http or https"),
    ({"url": "https://admin:hunter2@pacs.example.org/dicom-web"}, "holds a user name or password"),
    ({"url": "https://pacs.example.org/dicom-web#x"}, "has a fragment"),
    ({"url": "https:///dicom-web"}, "has no host"),
    ({"url": "https://pacs.example.org", "token": "t", "username": "u", "password": "p"}, "not both"),
    ({"url": "https://pacs.example.org", "username": "u"}, "username and password together"),
    ({"url": "https://pacs.example.org", "timeout_s": float("nan")}, "timeout_s: nan must be 1-600 s"),
    ({"url": "https://pacs.example.org", "proxy": "x"}, "unknown key"),
    # the patient ID and the credentials would cross the network in clear
    ({"url": "http://pacs.example.org/dicom-web"}, "plain http to a host that is not loopback"),
    ({"url": "http://10.1.2.3:8042/dicom-web"}, "plain http to a host that is not loopback"),
    ({"url": "http://pacs.example.org/dicom-web", "allow_http": "yes"}, "allow_http: 'yes' is not true or false"),
])
def test_settings_are_checked(table, message):
    with pytest.raises(ConfigError, match=message) as refused:
        PacsSettings.from_mapping(table)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8042/dicom-web", "http://127.8.9.10/dicom-web",
                                 "http://[::1]:8042/dicom-web", "http://localhost/dicom-web", "https://pacs.example.org"])
def test_plain_http_only_to_loopback(url):
    assert PacsSettings.from_mapping({"url": url}).url == url


def test_plain_http_elsewhere_when_allowed():
    table = {"url": "http://pacs.example.org/dicom-web", "allow_http": True}
    assert PacsSettings.from_mapping(table).server == "http://pacs.example.org/dicom-web"
    assert PacsSettings.from_environment(table["url"], environ={}, allow_http=True).url == table["url"]
    with pytest.raises(ConfigError, match=r"--pacs url .*plain http"):
        PacsSettings.from_environment(table["url"], environ={})


@pytest.mark.parametrize("value", ["", "  ", "SECRET*", "SEC?RET", "A\\B", "x" * 65, "A\nB"])
def test_a_patient_id_that_would_match_others_is_refused_without_showing_it(value):
    with pytest.raises(InputError) as refused:
        checked_patient_id(value)
    assert value.strip() == "" or value not in str(refused.value)


@pytest.mark.parametrize("item", [None, [], {"0020000E": "1.2"}, {"0020000E": {"Value": "1.2"}},
                                  {"0020000E": {"Value": []}}, {"0020000E": {"Value": [12]}},
                                  {"0020000E": {"Value": ["1.2.x"]}}, {"0020000E": {"Value": ["1." * 40 + "1"]}}])
def test_hostile_qido_values_are_unknown_not_errors(item):
    assert uid_of(item, "SeriesInstanceUID") is None


def test_qido_values_are_read():
    assert uid_of({"0020000E": {"vr": "UI", "Value": ["1.2.840.1"]}}, "SeriesInstanceUID") == "1.2.840.1"
    assert first_of({"00201209": {"Value": [7]}}, "NumberOfSeriesRelatedInstances") == 7


def test_cli_lists_then_retrieves_and_stores(pacs, found, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PRRT_PACS_USER", pacs.server.username)
    monkeypatch.setenv("PRRT_PACS_PASSWORD", pacs.server.password)
    monkeypatch.setenv("PRRT_PACS_PATIENT_ID", pacs.lu177_patient_id)
    base = ["dicom", "--pacs", pacs.server.dicomweb_url, "--from", "2024-03-01", "--to", "2024-03-31"]
    assert main(base) == 0
    listed = capsys.readouterr()
    assert all(s.series_instance_uid in listed.out for s in found)
    assert pacs.lu177_patient_id not in listed.out + listed.err
    db = tmp_path / "prrt.sqlite"
    with Store(db) as store:
        store.insert({"patients": [PATIENT], "cycles": [CYCLE]}, actor=editor("test"))
    series = [a for s in found for a in ("--series", s.series_instance_uid)]
    assert main([*base, *series, "--patient", "NET-PACS", "--cycle", "1", "--db", str(db)]) == 0
    out = capsys.readouterr()
    assert pacs.lu177_patient_id not in out.out + out.err
    with Store(db) as store:
        doses = store.read_all().dosimetry
    kidney = doses[doses["organ"] == "kidney_left"]["dose_gy"]
    assert kidney.tolist() == pytest.approx([pacs.phantom.expected_dose_gy("Kidney left", TISSUE_DENSITY_G_PER_ML)],
                                            rel=0.02)


def test_cli_refusals_exit_1_and_store_nothing(pacs, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PRRT_PACS_USER", pacs.server.username)
    monkeypatch.setenv("PRRT_PACS_PASSWORD", "wrong")
    monkeypatch.setenv("PRRT_PACS_PATIENT_ID", pacs.lu177_patient_id)
    assert main(["dicom", "--pacs", pacs.server.dicomweb_url, "--from", "2024-03-01", "--to", "2024-03-31"]) == 1
    err = capsys.readouterr().err
    assert "credentials were refused" in err and pacs.lu177_patient_id not in err


# --- a hostile DICOMweb server: a real HTTP server on loopback whose answers are malformed ----------
class Hostile(http.server.BaseHTTPRequestHandler):
    """Answers QIDO-RS/WADO-RS requests as ``self.server.mode`` says: 'garbage' (wrong types, another
    patient's study, a study without PatientID, huge texts), 'huge' (a 17 MiB answer), 'slow' (3 s
    before answering), 'drip' (headers at once, then one byte of the body every 0.3 s), 'many'
    (``self.server.studies`` studies of the patient, the first with ``self.server.series`` NM series)."""

    STUDY, SERIES, SOP = "1.2.4", "1.2.4.1", "1.2.4.1.1"

    def log_message(self, *args) -> None:  # the test's output, not stderr
        pass

    def _send(self, body: bytes, content_type: str = "application/dicom+json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        mode, path = self.server.mode, self.path.split("?")[0].removeprefix("/dicom-web")
        if mode == "slow":
            time.sleep(3)
        if mode == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(1000):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.3)
            return
        if mode == "many":
            self._many(path)
            return
        if mode == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.end_headers()  # no Content-Length: the body runs to the end of the connection
            with contextlib.suppress(OSError):
                for _ in range(17):
                    self.wfile.write(b" " * 2**20)
            return
        if path == "/studies":
            self._send(json.dumps([
                {"0020000D": {"Value": ["1.2.3"]}, "00100020": {"Value": ["SOMEONE-ELSE"]}},  # another patient
                {"0020000D": {"Value": ["1.2.5"]}, "00080020": {"Value": ["20240305"]}},  # whose? (no 00100020)
                {"0020000D": {"Value": [self.STUDY]}, "00100020": {"Value": [phantom.FAKE_PATIENT_ID]},
                 "00080020": {"Value": [20240304]}},
                {"0020000D": {"Value": [{"nested": 1}]}}, "not an object"]).encode())
        elif path == f"/studies/{self.STUDY}/series":
            self._send(json.dumps([
                {"0020000E": {"Value": [self.SERIES]}, "00080060": {"Value": ["NM"]},
                 "0008103E": {"Value": ["**bold** [x](https://evil.example)\x00\n" + "A" * 10_000]},
                 "00201209": {"Value": ["abc"]}, "00080021": {"Value": ["2024-03-04"]}},
                {"0020000E": {"Value": ["1.2.4.2"]}, "00080060": {"Value": ["CT"]}},
                {"0020000E": {"Value": ["../../etc/passwd"]}, "00080060": {"Value": ["NM"]}},
                {"0020000E": "no value list", "00080060": {"Value": [None]}}]).encode())
        elif path == f"/studies/{self.STUDY}/series/{self.SERIES}/instances":
            self._send(json.dumps([{"00080018": {"Value": [self.SOP]}}]).encode())
        elif path.endswith("/metadata"):
            self._send(json.dumps([{"0008002A": {"Value": ["not-a-date"]}, "00540016": {"Value": [
                {"00181078": {"Value": ["20240304093000"]}, "00181075": {"Value": ["inf"]}}]}}]).encode())
        elif path == f"/studies/{self.STUDY}/series/{self.SERIES}/instances/{self.SOP}":
            self._send(b"--xx\r\nContent-Type: application/dicom\r\n\r\nthis is not DICOM\r\n--xx--",
                       'multipart/related; type="application/dicom"; boundary=xx')
        else:
            self.send_error(404)

    def _many(self, path: str) -> None:
        first = f"{self.STUDY}.0"
        if path == "/studies":
            self._send(json.dumps([{"0020000D": {"Value": [f"{self.STUDY}.{i}"]}, "00100020": {
                "Value": [phantom.FAKE_PATIENT_ID]}} for i in range(self.server.studies)]).encode())
        elif path == f"/studies/{first}/series":
            self._send(json.dumps([{"0020000E": {"Value": [f"{first}.{i}"]}, "00080060": {"Value": ["NM"]}}
                                   for i in range(self.server.series)]).encode())
        elif path.startswith(f"/studies/{first}/series/") and path.endswith("/instances"):
            self._send(json.dumps([{"00080018": {"Value": [self.SOP]}}]).encode())
        elif path.endswith("/metadata"):
            self._send(json.dumps([{"00540016": {"Value": [{"00181078": {"Value": ["20240304093000"]}}]}}]).encode())
        elif path.startswith("/studies/") and path.endswith("/series"):
            self._send(b"[]")
        else:
            self.send_error(404)


@pytest.fixture
def hostile():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.mode = "garbage"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def hostile_settings(server, timeout_s: float = 10) -> PacsSettings:
    return PacsSettings(f"http://127.0.0.1:{server.server_address[1]}/dicom-web", timeout_s=timeout_s)


def test_hostile_answers_are_bounded_escaped_or_dropped(hostile):
    result = search_pacs(hostile_settings(hostile), phantom.FAKE_PATIENT_ID, FROM, TO)
    found = list(result.series)
    # CT, bad UIDs, another patient's study and one whose answer lacks the PatientID: dropped
    # (had study 1.2.5 been kept, its series request would have failed with HTTP 404)
    assert [s.series_instance_uid for s in found] == [Hostile.SERIES] and result.study_count == 1
    assert result.notes == ("4 answer(s) without a valid Study Instance UID dropped",  # 2 each to NM and PT
                            "1 study(ies) without the PatientID (whose study it is was not confirmed) dropped",
                            "1 study(ies) of another PatientID dropped")
    series = found[0]
    assert len(series.description) == 64 and "\x00" not in series.description and "\n" not in series.description
    assert series.instance_count is None and series.study_date is None and series.series_datetime is None
    assert series.acquisition_datetime is None and series.injection_datetime == dt.datetime(2024, 3, 4, 9, 30)
    with pytest.raises(PacsError, match=r"WADO-RS instance 1 of 1 of series 1\.2\.4\.1: the answer is not valid "
                                        r"DICOMweb"):
        retrieve_series(hostile_settings(hostile), found)


def test_a_huge_answer_is_cut_while_read(hostile):
    hostile.mode = "huge"
    with pytest.raises(PacsError, match=r"QIDO-RS studies with NM .*: answer too large: more than 16 MB"):
        search_series(hostile_settings(hostile), phantom.FAKE_PATIENT_ID, FROM, TO)


def test_a_slow_server_times_out(hostile):
    hostile.mode = "slow"
    started = time.monotonic()
    with pytest.raises(PacsError, match=r"timeout: no answer within 1 s"):
        search_series(hostile_settings(hostile, timeout_s=1), phantom.FAKE_PATIENT_ID, FROM, TO)
    assert time.monotonic() - started < 2.9


def test_a_dripping_server_is_cut_at_the_time_limit(hostile):
    # Each read gets a byte within the 1 s time-out; the request's limit (10 x 1 s, and the
    # search's 10 x 1 s) is enforced by closing the connection, not between bytes.
    hostile.mode = "drip"
    started = time.monotonic()
    with pytest.raises(PacsError, match=r"QIDO-RS studies with NM .*: answer too slow: the search was not complete "
                                        r"after its limit of 10 s"):
        search_series(hostile_settings(hostile, timeout_s=1), phantom.FAKE_PATIENT_ID, FROM, TO)
    assert 9.5 < time.monotonic() - started < 13


def test_a_search_is_bounded_in_studies_and_metadata_requests(hostile, monkeypatch):
    hostile.mode, hostile.studies, hostile.series = "many", 101, 0
    with pytest.raises(PacsError, match=r"more than 100 studies with NM or PT .*narrow the study dates"):
        search_pacs(hostile_settings(hostile), phantom.FAKE_PATIENT_ID, FROM, TO)
    monkeypatch.setattr(search_module, "MAX_TIME_POINT_SERIES", 3)
    hostile.studies, hostile.series = 2, 5
    result = search_pacs(hostile_settings(hostile), phantom.FAKE_PATIENT_ID, FROM, TO)
    assert len(result.series) == 5 and result.study_count == 2
    assert sum(s.injection_datetime is not None for s in result.series) == 3
    assert [s.note for s in result.series if s.injection_datetime is None] == [
        "times not read (more than 3 NM/PT series)"] * 2
    assert result.notes == ("2 of 5 NM/PT series listed without their times: metadata is read for the first 3 "
                            "only; narrow the study dates",)


def test_cli_refuses_a_patient_id_argument(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["dicom", "--pacs", "https://pacs.example.org/dicom-web", "--pacs-patient-id", "SECRET-4711",
              "--from", "2024-03-01"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "SECRET-4711" not in err
    assert "--pacs-patient-id: takes only '-'" in err and "shell's history" in err and " ps " in err


def test_cli_reads_the_patient_id_from_standard_input_and_refuses_an_unknown_series(pacs, capsys, monkeypatch):
    monkeypatch.setenv("PRRT_PACS_USER", pacs.server.username)
    monkeypatch.setenv("PRRT_PACS_PASSWORD", pacs.server.password)
    monkeypatch.delenv("PRRT_PACS_PATIENT_ID", raising=False)
    base = ["dicom", "--pacs", pacs.server.dicomweb_url, "--pacs-patient-id", "-", "--from", "2024-03-01"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(pacs.ga68_patient_id + "\n"))
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "6 series on" in out and "not Lu-177" in out and pacs.ga68_patient_id not in out
    monkeypatch.setattr(sys, "stdin", io.StringIO(pacs.ga68_patient_id + "\n"))
    assert main([*base, "--series", "1.2.3.4"]) == 1
    err = capsys.readouterr().err
    assert "--series 1.2.3.4: not among the 6 series found" in err and pacs.ga68_patient_id not in err
    assert main(["dicom", "--series", "1.2.3.4"]) == 2  # --series without --pacs


# --- the page (AppTest, signed in as in tests/pages/test_sign_in.py) -----------------------------
def open_pacs_source(pacs, user: dict) -> AppTest:
    secrets = {"auth": AUTH, "prrt": {"roles": ROLES, "pacs": pacs.server.pacs_table()}}
    at = support.open_page("pages/dosimetry.py", secrets=secrets,
                           user={"is_logged_in": True, "email_verified": True} | user)
    at.radio(key="dosimetry_source").set_value("PACS (DICOMweb)").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_viewer_cannot_search_the_pacs(pacs, fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_pacs_source(pacs, {"email": "v@clinic.example", "name": "Dr V"})
    assert "Retrieval from the PACS is for editors." in [i.value for i in at.info]
    assert not any(w.label == "PACS patient ID" for w in at.text_input) and PATIENT_WIDGET not in at.session_state
    assert not any(b.label == "Search the PACS" for b in at.button)


def test_an_editors_search_is_logged_and_keeps_no_patient_id(pacs, fresh_demo_db, app_env, caplog):
    caplog.set_level(logging.INFO, logger="ui.pacs")
    app_env(fresh_demo_db)
    at = open_pacs_source(pacs, {"email": "e@clinic.example", "name": "Dr E"})
    at.text_input(key=PATIENT_WIDGET).input(pacs.lu177_patient_id)
    at.date_input(key="pacs_from").set_value(FROM)
    at.date_input(key="pacs_to").set_value(TO)
    next(b for b in at.button if b.label == "Search the PACS").click().run()  # a form: sent on submit
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert len(at.session_state[FOUND].series) == 6 and at.session_state[PATIENT_WIDGET] == ""
    assert pacs.lu177_patient_id not in repr(at.session_state.to_dict())  # no other key holds it
    assert at.text_input(key=PATIENT_WIDGET).value == ""
    logged = [r.getMessage() for r in caplog.records if r.name == "ui.pacs"]
    assert logged == ["PACS search by Dr E <e@clinic.example> on " + pacs.server.dicomweb_url
                      + ", study dates 2024-03-01 to 2024-03-31: 1 studies, 6 series"]
    assert pacs.lu177_patient_id not in caplog.text
