"""One DICOMweb session with a PACS (dicomweb-client over a requests session): authentication,
answers bounded in bytes and time as they are read, and every failure as a PacsError.

Answers are hostile until checked: a response hook wraps the body's stream so that reading
stops (and the request fails) once the request's byte limit or time limit is passed, whatever
Content-Length says. Redirects are refused (the configured URL is the only address asked).
Query URLs carry the PACS patient ID: a log filter on the HTTP libraries' loggers removes it
from their debug messages, and errors are re-raised without the library's message (which
quotes the URL) and without chaining.
"""
from __future__ import annotations

import contextlib
import logging
import re
import time
import traceback
from collections.abc import Iterator

import requests
from dicomweb_client import DICOMwebClient
from pydicom.errors import InvalidDicomError

from prrt_core.archives import MiB, mb
from prrt_core.dicom.pacs.settings import PacsSettings
from prrt_core.errors import PacsError

logger = logging.getLogger(__name__)

# The largest QIDO-RS or metadata answer (DICOM JSON): 16 MiB holds ~20,000 instance entries.
MAX_JSON_BYTES = 16 * MiB
# One request may last this many time-outs in all (each read also waits at most timeout_s).
TOTAL_TIME_FACTOR = 10
# Loggers that may print a request URL (and so the PatientID query parameter) at debug level.
URL_LOGGERS = ("dicomweb_client.web", "urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager",
               "urllib3.response", "urllib3.util.retry", "retrying")  # retrying: dicomweb-client's retries
_PATIENT_QUERY = re.compile(r"((?:PatientID|00100020)=)[^&\s\"']*", re.IGNORECASE)


class _RedactPatientId(logging.Filter):
    """Removes the value of a PatientID query parameter from a log record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            return True
        if record.exc_info:  # an exception's message may quote the URL: kept as redacted text
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = _PATIENT_QUERY.sub(r"\1<not shown>", text), None
        return True


def _not_a_retry_report(record: logging.LogRecord) -> bool:
    """retrying's "Attempts: 1, Error: <traceback>" warning: the PacsError raised says it better."""
    return not str(record.msg).startswith("Attempts:")


_REDACT = _RedactPatientId()
for _name in URL_LOGGERS:
    if _REDACT not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_REDACT)
if _not_a_retry_report not in logging.getLogger("retrying").filters:
    logging.getLogger("retrying").addFilter(_not_a_retry_report)


class _TooLarge(Exception):
    def __init__(self, limit_bytes: int):
        self.limit_bytes = limit_bytes


class _TooSlow(Exception):
    def __init__(self, limit_s: float):
        self.limit_s = limit_s


class _BoundedBody:
    """A response body (urllib3's raw stream) that counts decoded bytes and time as it is read."""

    def __init__(self, raw, limit_bytes: int, deadline: float, limit_s: float):
        self._raw, self._limit, self._deadline, self._limit_s = raw, limit_bytes, deadline, limit_s

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        count = 0
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            count += len(chunk)
            if count > self._limit:
                raise _TooLarge(self._limit)
            if time.monotonic() > self._deadline:
                raise _TooSlow(self._limit_s)
            yield chunk

    def __getattr__(self, name: str):
        return getattr(self._raw, name)


class PacsClient:
    """A DICOMweb client for ``settings`` whose requests go through :meth:`request`."""

    def __init__(self, settings: PacsSettings):
        self.settings = settings
        self._limit_bytes, self._limit_s, self._deadline = MAX_JSON_BYTES, 0.0, 0.0
        session = requests.Session()
        session.max_redirects = 0
        if settings.token:
            session.headers["Authorization"] = f"Bearer {settings.token}"
        elif settings.username:
            session.auth = (settings.username, settings.password)
        session.hooks["response"] = [self._bound]
        self.session = session
        self.web = DICOMwebClient(settings.url, session=session, timeout=(settings.timeout_s, settings.timeout_s))
        self.web.set_http_retry_params(retry=False)  # a refused or slow server is reported, not hammered

    def _bound(self, response: requests.Response, *args, **kwargs) -> requests.Response:
        response.raw = _BoundedBody(response.raw, self._limit_bytes, self._deadline, self._limit_s)
        return response

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> PacsClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def request(self, what: str, limit_bytes: int = MAX_JSON_BYTES) -> Iterator[None]:
        """Run one client call: its answer bounded to ``limit_bytes`` and TOTAL_TIME_FACTOR time-outs;
        any failure raised as PacsError naming the server, ``what`` (e.g. 'QIDO-RS series of study
        1.2.3') and the problem."""
        server, timeout_s = self.settings.server, self.settings.timeout_s
        self._limit_bytes, self._limit_s = int(limit_bytes), TOTAL_TIME_FACTOR * timeout_s
        self._deadline = time.monotonic() + self._limit_s
        try:
            yield
        except PacsError:
            raise
        except _TooLarge as exc:
            raise PacsError(server, what, f"answer too large: more than {mb(exc.limit_bytes)}") from None
        except _TooSlow as exc:
            raise PacsError(server, what, f"answer too slow: not complete after {exc.limit_s:g} s") from None
        except requests.HTTPError as exc:
            raise PacsError(server, what, _http_problem(exc.response)) from None
        except requests.JSONDecodeError as exc:
            raise PacsError(server, what, f"the answer is not valid DICOMweb ({type(exc).__name__})") from None
        except requests.TooManyRedirects:
            raise PacsError(server, what, "redirected to another address; configure the final URL") from None
        except requests.Timeout:
            raise PacsError(server, what, f"timeout: no answer within {timeout_s:g} s") from None
        except requests.ConnectionError:
            raise PacsError(server, what, "unreachable (connection refused, failed or broken)") from None
        except requests.RequestException as exc:
            raise PacsError(server, what, f"request failed ({type(exc).__name__})") from None
        except (InvalidDicomError, ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError) as exc:
            # dicomweb-client and pydicom decoding an answer that is not DICOM JSON or DICOM
            raise PacsError(server, what, f"the answer is not valid DICOMweb ({type(exc).__name__})") from None


def _http_problem(response: requests.Response | None) -> str:
    """What an HTTP error status means for the user."""
    status = response.status_code if response is not None else None
    if status in (401, 403):
        return f"HTTP {status}: the credentials were refused (check token or username and password in the settings)"
    if status == 404:
        return "HTTP 404: not found (check the URL of the DICOMweb services, or the object was deleted)"
    if status == 413 or status == 507:
        return f"HTTP {status}: the server refused the size of the request"
    return f"HTTP {status}" + (f" {response.reason[:80]}" if response is not None and response.reason else "")
