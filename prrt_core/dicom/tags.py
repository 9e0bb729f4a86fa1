"""Low-level readers of DICOM elements; every refusal is a DicomError naming the file and the tag.

Dates and times are the wall-clock values written in the files (time-zone offsets are dropped).
"""
from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset
from pydicom.valuerep import DA, DT, TM

from prrt_core.errors import DicomError, tag_label


def require_tag(ds: Dataset, keyword: str, name: str, why: str = ""):
    """The value of ``keyword``; missing or blank raises DicomError (``why`` says what it is needed for)."""
    value = ds.get(keyword)
    if value is None or (isinstance(value, (str, bytes)) and not str(value).strip()):
        raise DicomError(name, keyword, "missing" + (f" ({why})" if why else ""))
    return value


def floats(value, count: int, name: str, keyword: str) -> np.ndarray:
    """``count`` finite numbers from a single or multi-valued element."""
    items = [value] if isinstance(value, (str, bytes, int, float)) else list(value)
    try:
        out = np.array([float(v) for v in items])
    except (TypeError, ValueError):
        raise DicomError(name, keyword, f"not numeric: {value!r}") from None
    if out.size != count or not np.isfinite(out).all():
        raise DicomError(name, keyword, f"expected {count} finite numbers, got {value!r}")
    return out


def date_time(ds: Dataset, name: str, dt_keyword: str | None, date_keyword: str, time_keyword: str) -> dt.datetime:
    """A date-time from the DT tag (when given), else from the DA + TM pair; time-zone offsets are dropped."""
    value = ds.get(dt_keyword) if dt_keyword else None
    label = dt_keyword or date_keyword
    try:
        if value not in (None, ""):
            return DT(str(value)).replace(tzinfo=None)
        date, time = ds.get(date_keyword), ds.get(time_keyword)
        if date in (None, "") or time in (None, ""):
            missing = date_keyword if date in (None, "") else time_keyword
            also = f", and {tag_label(missing)} is missing too" if dt_keyword else ""
            raise DicomError(name, dt_keyword or missing, "missing" + also)
        d, t = DA(str(date)), TM(str(time))
        return dt.datetime.combine(d, dt.time(t.hour, t.minute, t.second, t.microsecond))
    except DicomError:
        raise
    except (ValueError, TypeError) as exc:
        raise DicomError(name, label, f"not a valid date/time ({exc})") from None


def pixel_array(ds: Dataset, name: str) -> np.ndarray:
    """The stored pixel values; a missing or undecodable Pixel Data element names the transfer syntax."""
    try:
        return np.asarray(ds.pixel_array)
    except Exception as exc:  # noqa: BLE001 - missing element, unsupported compression, truncated data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise DicomError(name, "PixelData", f"cannot be decoded ({type(exc).__name__}; transfer syntax "
                         f"{syntax})") from None


def image_type(ds: Dataset) -> list[str]:
    """The values of Image Type (0008,0008), upper case; empty when absent."""
    value = ds.get("ImageType") or []
    return [str(v).upper() for v in (value if not isinstance(value, str) else value.split("\\"))]


@contextlib.contextmanager
def unreadable_values_refused(name: str) -> Iterator[None]:
    """Turn pydicom's ValueError/TypeError on a malformed value (e.g. a DS of 'abc') into a
    DicomError naming the file, so hostile or broken files are refused, never a traceback."""
    try:
        yield
    except DicomError:
        raise
    except (ValueError, TypeError) as exc:
        raise DicomError(name, None, f"a value could not be read ({type(exc).__name__}: {exc})") from exc
