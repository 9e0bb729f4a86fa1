"""One DICOMweb session with a PACS (dicomweb-client over a requests session): authentication,
answers bounded in bytes and time as they are read, and every failure as a PacsError.

Answers are hostile until checked: a response hook wraps the body's stream so that reading
stops (and the request fails) once the request's byte limit is passed, whatever Content-Length
says; a timer per request closes its connection when its time limit is passed, so that a server
dripping bytes cannot hold a read open (each read alone would not time out). Redirects are refused (the configured URL is the only address asked).
Query URLs carry the PACS patient ID: a log filter on the HTTP libraries' loggers removes it
from their debug messages, and errors are re-raised without the library's message (which
quotes the URL) and without chaining.
"""
from __future__ import annotations

import contextlib
import logging
import re
import threading
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
    """An answer still arriving when its request's time limit was reached."""


class _Request:
    """One request's bounds and the responses it opened; ``expire`` (the request's timer) closes
    them so that a read blocked on a dripping server fails at once."""

    def __init__(self, limit_bytes: int, limit_s: float):
        self.limit_bytes, self.limit_s = limit_bytes, limit_s
        self.deadline = time.monotonic() + limit_s
        self.expired = False
        self.responses: list[requests.Response] = []
        self.lock = threading.Lock()

    def opened(self, response: requests.Response) -> None:
        with self.lock:
            self.responses.append(response)
            expired = self.expired
        if expired:  # the timer fired while the headers were read
            _close(response)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            responses = list(self.responses)
        for response in responses:
            _close(response)


def _close(response: requests.Response) -> None:
    """Shut a response's socket down from another thread (urllib3's HTTPResponse.shutdown): a
    read blocked on it returns at once and the reader fails. Not closed here: closing waits for
    the reader's buffer lock. Errors are ignored: the reader reports the expired request."""
    with contextlib.suppress(Exception):
        response.raw.shutdown()


class _BoundedBody:
    """A response body (urllib3's raw stream) that counts decoded bytes as it is read and stops
    once its request expired (the timer in :meth:`PacsClient.request` enforces the time)."""

    def __init__(self, raw, bounds: _Request):
        self._raw, self._bounds = raw, bounds

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        count = 0
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            count += len(chunk)
            if count > self._bounds.limit_bytes:
                raise _TooLarge(self._bounds.limit_bytes)
            if self._bounds.expired or time.monotonic() > self._bounds.deadline:
                raise _TooSlow()
            yield chunk

    def __getattr__(self, name: str):
        return getattr(self._raw, name)


class PacsClient:
    """A DICOMweb client for ``settings`` whose requests go through :meth:`request`.

    ``total_s``: the time all requests of this client may take together (e.g. one search), s;
    None: each request is bounded on its own only."""

    def __init__(self, settings: PacsSettings, total_s: float | None = None, job: str = "search"):
        self.settings = settings
        self._current: _Request | None = None
        self._total_s, self._job = total_s, job
        self._ends_at = None if total_s is None else time.monotonic() + total_s
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
        bounds = self._current or _Request(MAX_JSON_BYTES, TOTAL_TIME_FACTOR * self.settings.timeout_s)
        response.raw = _BoundedBody(response.raw, bounds)
        bounds.opened(response)
        return response

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> PacsClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def request(self, what: str, limit_bytes: int = MAX_JSON_BYTES) -> Iterator[None]:
        """Run one client call: its answer bounded to ``limit_bytes`` and to TOTAL_TIME_FACTOR
        time-outs (less when the client's ``total_s`` ends sooner), enforced by a timer that closes
        the connection; any failure raised as PacsError naming the server, ``what`` (e.g. 'QIDO-RS
        series of study 1.2.3') and the problem."""
        server, timeout_s = self.settings.server, self.settings.timeout_s
        limit_s, too_slow = TOTAL_TIME_FACTOR * timeout_s, None
        if self._ends_at is not None:
            left_s = self._ends_at - time.monotonic()
            if left_s <= 0:
                raise PacsError(server, what, f"not asked: the {self._job} passed its limit of {self._total_s:g} s")
            if left_s < limit_s:
                limit_s = left_s
                too_slow = f"answer too slow: the {self._job} was not complete after its limit of {self._total_s:g} s"
        too_slow = too_slow or f"answer too slow: not complete after {limit_s:g} s"
        bounds = _Request(int(limit_bytes), limit_s)
        timer = threading.Timer(limit_s, bounds.expire)
        timer.daemon = True
        self._current = bounds
        timer.start()
        try:
            yield
        except PacsError:
            raise
        except Exception as exc:
            if bounds.expired or isinstance(exc, _TooSlow):  # whatever the closed connection raised
                raise PacsError(server, what, too_slow) from None
            problem = _problem(exc, timeout_s)
            if problem is None:
                raise
            raise PacsError(server, what, problem) from None
        finally:
            timer.cancel()
            self._current = None
        if bounds.expired:  # the answer ended when its connection was closed
            raise PacsError(server, what, too_slow)


def _problem(exc: Exception, timeout_s: float) -> str | None:
    """What a failed request means for the user; None for an exception that is not about the answer."""
    if isinstance(exc, _TooLarge):
        return f"answer too large: more than {mb(exc.limit_bytes)}"
    if isinstance(exc, requests.HTTPError):
        return _http_problem(exc.response)
    if isinstance(exc, requests.JSONDecodeError):
        return f"the answer is not valid DICOMweb ({type(exc).__name__})"
    if isinstance(exc, requests.TooManyRedirects):
        return "redirected to another address; configure the final URL"
    if isinstance(exc, requests.Timeout):
        return f"timeout: no answer within {timeout_s:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "unreachable (connection refused, failed or broken)"
    if isinstance(exc, requests.RequestException):
        return f"request failed ({type(exc).__name__})"
    if isinstance(exc, (InvalidDicomError, ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError)):
        # dicomweb-client and pydicom decoding an answer that is not DICOM JSON or DICOM
        return f"the answer is not valid DICOMweb ({type(exc).__name__})"
    return None


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
