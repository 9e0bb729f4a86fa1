"""QIDO-RS: a patient's NM/PT studies in a date range, their series, and the acquisition and
injection times of each SPECT/PET series (WADO-RS metadata of one instance).

Every value of an answer is hostile: missing, of the wrong type, huge or malformed values
become "unknown" (None, or an empty text), texts are bounded and stripped of control
characters, UIDs must be UIDs. The PACS patient ID is sent in the query only: it is not kept
in a PacsSeries, logged, or quoted in a message; a study is kept only when its answer
states the searched PatientID (compared transiently, like prrt_core.dicom.identity); others
are dropped and counted in the search's notes. A search is bounded in studies, series, metadata
requests and time.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache

import pandas as pd
from pydicom.datadict import tag_for_keyword
from pydicom.valuerep import DA, DT, TM

from prrt_core.dicom.injection import HALF_LIFE_TOLERANCE, LU177_HALF_LIFE_S
from prrt_core.dicom.pacs.client import PacsClient
from prrt_core.dicom.pacs.settings import PacsSettings, checked_patient_id
from prrt_core.errors import InputError, PacsError

logger = logging.getLogger(__name__)

# Modalities searched (ModalitiesInStudy) and series listed: the time points, then what a study
# may also hold for dosimetry (VOIs as SEG or RTSTRUCT, dose maps from other software).
TIME_POINT_MODALITIES = ("NM", "PT")
LISTED_MODALITIES = (*TIME_POINT_MODALITIES, "SEG", "RTSTRUCT", "RTDOSE")
MAX_STUDIES = 100  # per search: a patient's NM/PT studies over years are tens; more: narrow the dates
MAX_SERIES_PER_STUDY = 500  # more are left out, with a note
MAX_TIME_POINT_SERIES = 200  # NM/PT series whose first instance's metadata is fetched (2 requests each)
# A whole search may take this many time-outs: as long as one request may (client.TOTAL_TIME_FACTOR);
# a healthy PACS answers each of the at most 2 + 100 + 2 x 200 requests in well under a second, and
# nobody waits longer on a spinner (5 min at the default 30 s time-out).
SEARCH_TIME_FACTOR = 10
MAX_TEXT_CHARS = 64  # LO/SH values (PS3.5 Table 6.2-1); longer texts are cut
UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")  # PS3.5 9.1, at most 64 characters
CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
SERIES_FIELDS = ("Modality", "SeriesDescription", "SeriesDate", "SeriesTime", "NumberOfSeriesRelatedInstances")


@dataclass(frozen=True)
class PacsSeries:
    """One series of a PACS study, as QIDO-RS and the metadata of its first instance describe it.
    Holds no patient name or ID. Times are wall-clock values as written (time zones dropped)."""

    study_instance_uid: str
    series_instance_uid: str
    modality: str
    description: str = ""
    instance_count: int | None = None
    study_date: dt.date | None = None
    series_datetime: dt.datetime | None = None
    acquisition_datetime: dt.datetime | None = None
    injection_datetime: dt.datetime | None = None
    note: str = ""

    @property
    def is_time_point(self) -> bool:
        return self.modality in TIME_POINT_MODALITIES

    @property
    def hours_after_injection(self) -> float | None:
        """Acquisition time after RadiopharmaceuticalStartDateTime, h; None when either is unknown."""
        if self.acquisition_datetime is None or self.injection_datetime is None:
            return None
        return (self.acquisition_datetime - self.injection_datetime).total_seconds() / 3600.0

    @property
    def label(self) -> str:
        """A one-line description for pickers (bounded texts only)."""
        when = self.acquisition_datetime or self.series_datetime
        hours = self.hours_after_injection
        return " · ".join(p for p in (
            self.modality, self.description or "(no description)",
            f"{when:%Y-%m-%d %H:%M}" if when else "", f"{hours:.1f} h p.i." if hours is not None else "",
            f"{self.instance_count} instance(s)" if self.instance_count is not None else "", self.note) if p)


def series_table(series: list[PacsSeries]) -> pd.DataFrame:
    """The series as a table with units in the headers (for the page and the command line)."""
    rows = [{"Study date": s.study_date, "Modality": s.modality, "Series description": s.description,
             "Instances": s.instance_count, "Acquired": s.acquisition_datetime or s.series_datetime,
             "Time after injection (h)": None if s.hours_after_injection is None else round(s.hours_after_injection, 2),
             "Note": s.note, "Series Instance UID": s.series_instance_uid} for s in series]
    table = pd.DataFrame(rows, columns=["Study date", "Modality", "Series description", "Instances", "Acquired",
                                        "Time after injection (h)", "Note", "Series Instance UID"])
    # numbers, NaN where unknown (a VOI series): shown blank, not as "None"
    table["Time after injection (h)"] = pd.to_numeric(table["Time after injection (h)"])
    table["Instances"] = table["Instances"].astype("Int64")
    return table


@dataclass(frozen=True)
class PacsSearch:
    """What a search found: the series (see :func:`search_series`), how many studies they come
    from, and notes on what was dropped or left out (counts only, never patient data)."""

    series: tuple[PacsSeries, ...]
    study_count: int
    notes: tuple[str, ...] = ()


# --- hostile DICOM JSON ---------------------------------------------------------------------
@cache
def tag_of(keyword: str) -> str:
    """A DICOM keyword's tag as a DICOM JSON key (PS3.18 F.2: 8 upper-case hex digits)."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"not a DICOM keyword: {keyword}")
    return f"{tag:08X}"


def first_of(item: object, keyword: str) -> object | None:
    """The first value of ``keyword`` in a DICOM JSON object, None when absent or malformed."""
    if not isinstance(item, Mapping):
        return None
    element = item.get(tag_of(keyword))
    values = element.get("Value") if isinstance(element, Mapping) else None
    return values[0] if isinstance(values, list) and values else None


def _text(item: object, keyword: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    value = first_of(item, keyword)
    if not isinstance(value, str):
        return ""
    return CONTROL.sub(" ", value[: 4 * max_chars]).strip()[:max_chars]


def uid_of(item: object, keyword: str) -> str | None:
    value = first_of(item, keyword)
    if isinstance(value, str) and len(value) <= 64 and UID.match(value.strip()):
        return value.strip()
    return None


def _count(item: object, keyword: str) -> int | None:
    value = first_of(item, keyword)
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 7:
        value = int(value.strip())
    return value if isinstance(value, int) and 0 <= value <= 10_000_000 else None


def _parsed(kind, value: object, max_chars: int):
    if not isinstance(value, str) or not value.strip() or len(value) > max_chars:
        return None
    try:
        return kind(value.strip())
    except (ValueError, TypeError, OverflowError):
        return None


def _datetime(item: object, dt_keyword: str | None, date_keyword: str | None = None,
              time_keyword: str | None = None) -> dt.datetime | None:
    """A date-time from a DT value, else a DA + TM pair; None when absent or malformed."""
    if dt_keyword:
        value = _parsed(DT, first_of(item, dt_keyword), 26)
        if value is not None:
            return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second)
    if date_keyword is None or time_keyword is None:
        return None
    day, clock = _parsed(DA, first_of(item, date_keyword), 10), _parsed(TM, first_of(item, time_keyword), 16)
    if day is None or clock is None:
        return None
    return dt.datetime(day.year, day.month, day.day, clock.hour, clock.minute, clock.second)


def _date(item: object, keyword: str) -> dt.date | None:
    value = _parsed(DA, first_of(item, keyword), 10)
    return None if value is None else dt.date(value.year, value.month, value.day)


def _half_life_note(item: object) -> str:
    """A note when the stated RadionuclideHalfLife is not Lu-177's (prrt_core.dicom.injection)."""
    value = first_of(item, "RadionuclideHalfLife")
    try:
        half_life_s = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None
    except ValueError:
        return "RadionuclideHalfLife not a number"
    if half_life_s is None or not math.isfinite(half_life_s) or half_life_s <= 0:
        return ""
    if abs(half_life_s / LU177_HALF_LIFE_S - 1.0) > HALF_LIFE_TOLERANCE:
        return f"RadionuclideHalfLife {half_life_s / 3600:.3g} h: not Lu-177 ({LU177_HALF_LIFE_S / 3600:.1f} h)"
    return ""


# --- the search --------------------------------------------------------------------------------
def _studies(client: PacsClient, patient_id: str, date_from: dt.date, date_to: dt.date,
             notes: list[str]) -> list[tuple[str, dt.date | None]]:
    """(Study Instance UID, study date) of the patient's studies with NM or PT in the date range.
    A study is kept only when its answer states this PatientID (asked for in ``fields``);
    PacsError when there are more than MAX_STUDIES."""
    found_all: dict[str, dt.date | None] = {}
    no_uid = 0
    unconfirmed: set[str] = set()
    other: set[str] = set()
    for modality in TIME_POINT_MODALITIES:
        filters = {"PatientID": patient_id, "StudyDate": f"{date_from:%Y%m%d}-{date_to:%Y%m%d}",
                   "ModalitiesInStudy": modality}
        what = f"QIDO-RS studies with {modality} from {date_from} to {date_to}"
        with client.request(what):
            answer = client.web.search_for_studies(search_filters=filters, fuzzymatching=False,
                                                   limit=MAX_STUDIES + 1, fields=["PatientID", "StudyDate"])
        for item in answer if isinstance(answer, list) else []:
            uid, stated = uid_of(item, "StudyInstanceUID"), first_of(item, "PatientID")
            if uid is None:
                no_uid += 1
            elif not isinstance(stated, str):
                unconfirmed.add(uid)  # the server did not confirm whose study it is
            elif stated.strip() != patient_id:
                other.add(uid)  # compared transiently; neither value is kept or logged
            else:
                found_all.setdefault(uid, _date(item, "StudyDate"))
            if len(found_all) > MAX_STUDIES:
                raise PacsError(client.settings.server, what, f"more than {MAX_STUDIES} studies with NM or PT "
                                "for this patient ID: narrow the study dates")
    unconfirmed -= set(found_all)  # stated in one answer and not in another: kept
    other -= set(found_all)
    for count, why in ((no_uid, "answer(s) without a valid Study Instance UID"),
                       (len(unconfirmed), "study(ies) without the PatientID (whose study it is was not confirmed)"),
                       (len(other), "study(ies) of another PatientID")):
        if count:
            notes.append(f"{count} {why} dropped")
    if no_uid or unconfirmed or other:
        logger.warning("PACS %s: study answers dropped: %d without a UID, %d without the PatientID, %d of another "
                       "PatientID", client.settings.server, no_uid, len(unconfirmed), len(other))
    return list(found_all.items())


def _times(client: PacsClient, series: PacsSeries) -> PacsSeries:
    """``series`` with its acquisition and injection date-times from the metadata of its first instance."""
    where = f"series {series.series_instance_uid}"
    with client.request(f"QIDO-RS instances of {where}"):
        answer = client.web.search_for_instances(series.study_instance_uid, series.series_instance_uid, limit=1,
                                                 fields=["AcquisitionDateTime", "AcquisitionDate", "AcquisitionTime"])
    first = answer[0] if isinstance(answer, list) and answer else None
    sop = uid_of(first, "SOPInstanceUID")
    if sop is None:
        return replace(series, note="no instance listed")
    with client.request(f"WADO-RS metadata of {where}"):
        meta = client.web.retrieve_instance_metadata(series.study_instance_uid, series.series_instance_uid, sop)
    pharmaceutical = first_of(meta, "RadiopharmaceuticalInformationSequence")
    injected = _datetime(pharmaceutical, "RadiopharmaceuticalStartDateTime")
    acquired = _datetime(meta, "AcquisitionDateTime", "AcquisitionDate", "AcquisitionTime")
    notes = [_half_life_note(pharmaceutical)]
    if injected is None:
        notes.append("injection time not in the files")
    return replace(series, acquisition_datetime=acquired, injection_datetime=injected,
                 note="; ".join(n for n in notes if n))


def search_pacs(settings: PacsSettings, pacs_patient_id: str, study_date_from: dt.date,
           study_date_to: dt.date) -> PacsSearch:
    """The NM, PT, SEG, RTSTRUCT and RTDOSE series of the patient's studies with NM or PT acquired
    from ``study_date_from`` to ``study_date_to`` (inclusive), in study date and acquisition order.

    QIDO-RS studies by PatientID, StudyDate range and ModalitiesInStudy, then their series; the
    acquisition and injection date-times of NM/PT series come from one instance's WADO-RS
    metadata. Bounded: at most MAX_STUDIES studies (else PacsError: narrow the dates),
    MAX_SERIES_PER_STUDY series per study and metadata of MAX_TIME_POINT_SERIES NM/PT series
    (beyond: left out or listed without times, with a note), SEARCH_TIME_FACTOR x timeout_s in
    all. PacsError names the server and request on any failure; the patient ID is never part of
    a message, a log record or the result.
    """
    patient_id = checked_patient_id(pacs_patient_id)
    if not (isinstance(study_date_from, dt.date) and isinstance(study_date_to, dt.date)):
        raise InputError("PACS search: give the study dates from and to")
    if study_date_from > study_date_to:
        raise InputError(f"PACS search: study date from {study_date_from} is after to {study_date_to}")
    found: list[PacsSeries] = []
    notes: list[str] = []
    time_points = 0
    with PacsClient(settings, total_s=SEARCH_TIME_FACTOR * settings.timeout_s, job="search") as client:
        studies = _studies(client, patient_id, study_date_from, study_date_to, notes)
        for study_uid, study_date in studies:
            with client.request(f"QIDO-RS series of study {study_uid}"):
                answer = client.web.search_for_series(study_uid, fields=list(SERIES_FIELDS),
                                                      limit=MAX_SERIES_PER_STUDY + 1)
            answer = answer if isinstance(answer, list) else []
            if len(answer) > MAX_SERIES_PER_STUDY:
                notes.append(f"study {study_uid}: more than {MAX_SERIES_PER_STUDY} series; only the first "
                             f"{MAX_SERIES_PER_STUDY} the server listed were read")
            for item in answer[:MAX_SERIES_PER_STUDY]:
                uid, modality = uid_of(item, "SeriesInstanceUID"), _text(item, "Modality", 16).upper()
                if uid is None or modality not in LISTED_MODALITIES:
                    continue
                series = PacsSeries(study_uid, uid, modality, _text(item, "SeriesDescription"),
                                    _count(item, "NumberOfSeriesRelatedInstances"), study_date,
                                    _datetime(item, None, "SeriesDate", "SeriesTime"))
                if series.is_time_point:
                    time_points += 1
                    series = (_times(client, series) if time_points <= MAX_TIME_POINT_SERIES else
                              replace(series, note=f"times not read (more than {MAX_TIME_POINT_SERIES} NM/PT series)"))
                found.append(series)
    if time_points > MAX_TIME_POINT_SERIES:
        notes.append(f"{time_points - MAX_TIME_POINT_SERIES} of {time_points} NM/PT series listed without their "
                     f"times: metadata is read for the first {MAX_TIME_POINT_SERIES} only; narrow the study dates")
    found.sort(key=lambda s: (s.study_date or dt.date.min, not s.is_time_point,
                              s.acquisition_datetime or s.series_datetime or dt.datetime.min))
    logger.debug("PACS %s: %d series of %d studies found", settings.server, len(found), len(studies))
    return PacsSearch(tuple(found), len(studies), tuple(notes))


def search_series(settings: PacsSettings, pacs_patient_id: str, study_date_from: dt.date,
                  study_date_to: dt.date) -> list[PacsSeries]:
    """The series of :func:`search_pacs` (its notes dropped)."""
    return list(search_pacs(settings, pacs_patient_id, study_date_from, study_date_to).series)
