"""A real PACS for the tests: Debian's Orthanc with its DICOMweb plugin on free loopback ports.

:func:`orthanc` starts ``Orthanc <config.json>`` in a temporary directory (its storage, index
and log there), with authentication on (one registered user, so wrong credentials get HTTP
401) and remote access off, waits until its REST API answers, and terminates it afterwards.
:meth:`Orthanc.upload` stores DICOM files through the REST API (``POST /instances``).
Packages: ``orthanc orthanc-dicomweb`` (tests/system-packages.sh).
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import free_port, running

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USERNAME, PASSWORD = "prrt-test", "orthanc-test-password"


def orthanc_binary() -> str:
    """The Orthanc executable (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)
    if found is None or not DICOMWEB_PLUGIN.exists():
        raise RuntimeError("Orthanc or its DICOMweb plugin is missing: apt-get install orthanc orthanc-dicomweb "
                           "(tests/system-packages.sh)")
    return found


@dataclass(frozen=True)
class Orthanc:
    """A running Orthanc: its REST API at ``url``, DICOMweb at ``dicomweb_url``."""

    url: str
    workdir: Path
    username: str = USERNAME
    password: str = PASSWORD

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def pacs_table(self, **changes) -> dict:
        """The ``[prrt.pacs]`` secrets table for this server (basic auth); ``changes`` replace keys."""
        return {"url": self.dicomweb_url, "username": self.username, "password": self.password,
                "timeout_s": 20} | changes

    def _request(self, path: str, data: bytes | None = None, method: str = "GET") -> object:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def upload(self, paths: Iterable[Path]) -> list[str]:
        """Store DICOM files (``POST /instances``); returns Orthanc's instance ids."""
        ids = []
        for path in paths:
            answer = self._request("/instances", Path(path).read_bytes(), "POST")
            assert answer["Status"] in ("Success", "AlreadyStored"), answer
            ids.append(answer["ID"])
        return ids

    def answers(self) -> bool:
        try:
            return "Version" in self._request("/system")
        except (OSError, urllib.error.URLError, ValueError):
            return False


@contextlib.contextmanager
def orthanc(workdir: Path) -> Iterator[Orthanc]:
    """Orthanc with the DICOMweb plugin (Root ``/dicom-web/``) on free 127.0.0.1 HTTP and DICOM
    ports, storage and index in ``workdir``; terminated afterwards."""
    binary = orthanc_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "prrt-test-pacs", "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "index"), "Plugins": [str(DICOMWEB_PLUGIN)],
        "HttpPort": http_port, "DicomPort": dicom_port, "DicomAet": "PRRTTEST",
        "RemoteAccessAllowed": False, "AuthenticationEnabled": True, "RegisteredUsers": {USERNAME: PASSWORD},
        "OrthancExplorerEnabled": False, "WebDavEnabled": False, "HttpCompressionEnabled": False,
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    path = workdir / "config.json"
    path.write_text(json.dumps(config, indent=1))
    server = Orthanc(f"http://127.0.0.1:{http_port}", workdir)
    with running([binary, str(path)], env=os.environ, log_path=workdir / "orthanc.log", ready=server.answers,
                 what="Orthanc", cwd=workdir, timeout_s=60):
        yield server


# --- the studies the tests search for ----------------------------------------------------------
# Ga-68 half-life 67.71 min (NUBASE2020, Kondev et al., Chin Phys C 2021;45:030001): a DOTATATE
# PET/SPECT of another radionuclide, which the dosimetry must refuse (prrt_core.dicom.injection).
GA68_HALF_LIFE_S = 67.71 * 60
GA68_PATIENT_ID = "SECRET-GA68-0815"
GA68_STUDY_UID = "1.2.826.0.1.3680043.10.1456.68"


@dataclass(frozen=True)
class PacsStudies:
    """A running Orthanc holding the phantom's Lu-177 study (5 NM time points and a SEG, patient
    ``phantom.FAKE_PATIENT_ID``) and the same study as Ga-68 under ``GA68_PATIENT_ID`` (other
    Study, Series and SOP Instance UIDs)."""

    server: Orthanc
    phantom: object  # prrt_core.testing.phantom.Phantom
    lu177_patient_id: str
    ga68_patient_id: str


def write_ga68(folder: Path) -> list[Path]:
    """The phantom's study rewritten as another patient's Ga-68 study: new Study, Series and SOP
    Instance UIDs (pydicom.uid.generate_uid; references between the files, e.g. the SEG's to
    its source images, follow), the NM files' RadionuclideHalfLife set to Ga-68's."""
    import pydicom
    from pydicom.uid import generate_uid

    from prrt_core.testing import phantom

    written = phantom.write_phantom(folder)
    datasets = [pydicom.dcmread(path) for path in written.files]
    new_uid: dict[str, str] = {}
    for ds in datasets:
        for old in (str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)):
            new_uid.setdefault(old, generate_uid())

    def renew(ds, element) -> None:
        if element.VR == "UI" and isinstance(element.value, str) and element.value in new_uid:
            element.value = new_uid[element.value]

    for path, ds in zip(written.files, datasets, strict=True):
        ds.walk(renew)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID = GA68_PATIENT_ID
        ds.StudyInstanceUID = GA68_STUDY_UID
        for item in ds.get("RadiopharmaceuticalInformationSequence", []):
            item.RadionuclideHalfLife = f"{GA68_HALF_LIFE_S:.1f}"
            item.Radiopharmaceutical = "68Ga-DOTATATE"
        ds.save_as(path, enforce_file_format=True)
    return written.files


def load_studies(server: Orthanc, folder: Path) -> PacsStudies:
    """Upload the phantom's Lu-177 study and the Ga-68 study to ``server``."""
    from prrt_core.testing import phantom

    written = phantom.write_phantom(folder / "lu177")
    server.upload(written.files)
    server.upload(write_ga68(folder / "ga68"))
    return PacsStudies(server, written.phantom, phantom.FAKE_PATIENT_ID, GA68_PATIENT_ID)
