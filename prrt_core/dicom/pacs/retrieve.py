"""WADO-RS: the instances of chosen series, one request each, as ``(name, bytes)`` files for
:func:`prrt_core.dicom.study_dose.analyse`.

Bounded like an upload (prrt_core.dicom.files: the same MAX_UNPACKED_BYTES, MAX_MEMBER_BYTES and
MAX_MEMBERS): the number of instances is checked before the first is fetched, each answer's
bytes as they are read. Names are built from UIDs only, never from patient data.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pydicom

from prrt_core.archives import mb
from prrt_core.dicom.files import MAX_MEMBER_BYTES, MAX_MEMBERS, MAX_UNPACKED_BYTES
from prrt_core.dicom.pacs.client import MAX_JSON_BYTES, PacsClient
from prrt_core.dicom.pacs.search import PacsSeries, uid_of
from prrt_core.dicom.pacs.settings import PacsSettings
from prrt_core.errors import PacsError

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
# Instances listed per QIDO-RS request (servers may answer fewer; the listing pages on).
PAGE_SIZE = 1000
# Any transfer syntax the server holds (pydicom decodes the usual ones); Explicit VR Little
# Endian is what PS3.18 requires every server to offer.
MEDIA_TYPES = (("application/dicom", "*"),)


@dataclass(frozen=True)
class RetrievalLimits:
    """Bounds of one retrieval: all bytes, one instance's bytes, number of instances."""

    total_bytes: int = MAX_UNPACKED_BYTES
    instance_bytes: int = MAX_MEMBER_BYTES
    instances: int = MAX_MEMBERS


def _instances(client: PacsClient, series: PacsSeries, room: int, limit: int) -> list[str]:
    """The SOP Instance UIDs of ``series`` (QIDO-RS, paged), refused beyond ``room`` instances
    (what is left of ``limit``, the bound of the whole retrieval)."""
    what = f"QIDO-RS instances of series {series.series_instance_uid}"
    found: dict[str, None] = {}
    offset = 0
    while True:
        with client.request(what, MAX_JSON_BYTES):
            page = client.web.search_for_instances(series.study_instance_uid, series.series_instance_uid,
                                                   offset=offset, limit=PAGE_SIZE, fields=["SOPInstanceUID"])
        page = page if isinstance(page, list) else []
        if not page:
            break
        before = len(found)
        for item in page:
            uid = uid_of(item, "SOPInstanceUID")
            if uid is None:
                raise PacsError(client.settings.server, what, "an instance without a valid SOP Instance UID")
            found[uid] = None
        if len(found) == before:  # nothing new: the server ignores offset (or repeats itself)
            break
        offset += len(page)
        if len(found) > room or offset > room + PAGE_SIZE:
            raise PacsError(client.settings.server, what, f"more than {limit} instances in all: the retrieval is "
                            f"limited like an upload (prrt_core.dicom.files.MAX_MEMBERS = {MAX_MEMBERS})")
    if not found:
        raise PacsError(client.settings.server, what, "no instances")
    return list(found)


def _as_bytes(client: PacsClient, what: str, dataset: pydicom.Dataset, series_uid: str) -> bytes:
    """The retrieved instance written back as a DICOM file; refused when of another series."""
    buffer = io.BytesIO()
    with client.request(what):
        answered = str(dataset.get("SeriesInstanceUID", "")).strip()
        pydicom.dcmwrite(buffer, dataset)
    if answered != series_uid:
        raise PacsError(client.settings.server, what, "the answer is an instance of another series")
    return buffer.getvalue()


def retrieve_series(settings: PacsSettings, series: Sequence[PacsSeries], progress: Progress | None = None,
                    limits: RetrievalLimits = RetrievalLimits()) -> list[tuple[str, bytes]]:
    """Every instance of ``series`` by WADO-RS, as ``(name, bytes)`` DICOM files named
    ``pacs/<modality>/<Series Instance UID>/<SOP Instance UID>.dcm``.

    ``progress(fraction, message)`` is called before each instance (the page's Cancel stops the
    run there: Streamlit ends a stopped run at its next st call; the command line has Ctrl-C).
    PacsError names the server, the request and the series on a failure or a passed bound.
    """
    report = progress or (lambda fraction, message: None)
    files: list[tuple[str, bytes]] = []
    total_bytes = 0
    with PacsClient(settings) as client:
        planned: list[tuple[PacsSeries, str]] = []
        for s in series:
            report(0.0, f"Listing the instances of {s.modality} {s.description or s.series_instance_uid}")
            planned += [(s, sop) for sop in _instances(client, s, limits.instances - len(planned), limits.instances)]
        for i, (s, sop) in enumerate(planned):
            what = f"WADO-RS instance {i + 1} of {len(planned)} of series {s.series_instance_uid}"
            report(i / len(planned), f"Retrieving {s.modality} {s.description or 'series'}: instance {i + 1} of "
                   f"{len(planned)}")
            room = limits.total_bytes - total_bytes
            limit = min(limits.instance_bytes, room)
            with client.request(what, limit):
                dataset = client.web.retrieve_instance(s.study_instance_uid, s.series_instance_uid, sop,
                                                       media_types=MEDIA_TYPES)
            data = _as_bytes(client, what, dataset, s.series_instance_uid)
            total_bytes += len(data)
            if len(data) > limit:
                raise PacsError(settings.server, what, f"too large: {mb(len(data))} over the limit of {mb(limit)} "
                                f"(per instance {mb(limits.instance_bytes)}, in all {mb(limits.total_bytes)})")
            files.append((f"pacs/{s.modality}/{s.series_instance_uid}/{sop}.dcm", data))
    report(1.0, f"Retrieved {len(files)} instance(s), {mb(total_bytes)}")
    logger.debug("PACS %s: retrieved %d instance(s) of %d series, %d bytes", settings.server, len(files),
                len(series), total_bytes)
    return files
