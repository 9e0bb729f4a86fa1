"""Low-level readers of DICOM elements; every refusal is a DicomError naming the file and the tag.

Dates and times are the wall-clock values written in the files (time-zone offsets are dropped).
"""
from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import DA, DT, TM

from prrt_core.errors import DicomError, tag_label


def require_tag(ds: Dataset, keyword: str, name: str, why: str = ""):
    """The value of ``keyword``; missing or blank raises DicomError (``why`` says what it is needed for)."""
    value = ds.get(keyword)
    if value is None or (isinstance(value, (str, bytes)) and not str(value).strip()):
        raise DicomError(name, keyword, "missing" + (f" ({why})" if why else ""))
    return value


# ``number(..., default=REQUIRED)``: an absent or empty element is refused (the default).
REQUIRED = object()


def _range_text(above: float | None, minimum: float | None, maximum: float | None) -> str:
    parts = ([f"> {above:g}"] if above is not None else []) + ([f">= {minimum:g}"] if minimum is not None else []) \
        + ([f"<= {maximum:g}"] if maximum is not None else [])
    return " and ".join(parts)


def _checked(values: np.ndarray, raw, name: str, keyword: str, above, minimum, maximum, why: str) -> np.ndarray:
    """``values`` (already numbers) refused when not finite (first) or outside the range."""
    if not np.isfinite(values).all():
        raise DicomError(name, keyword, f"is {raw}: not a finite number")
    if ((above is not None and not (values > above).all()) or (minimum is not None and (values < minimum).any())
            or (maximum is not None and (values > maximum).any())):
        raise DicomError(name, keyword, f"is {raw}: must be {_range_text(above, minimum, maximum)}"
                         + (f" ({why})" if why else ""))
    return values


def _values(value) -> list:
    """The values of a single or multi-valued element."""
    return list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]


def _text(value) -> str:
    """A DICOM value as written (a DS keeps its original string), for messages."""
    items = _values(value)
    return "\\".join(str(v).strip() for v in items)


def number(ds: Dataset, keyword: str, name: str, *, above: float | None = None, minimum: float | None = None,
           maximum: float | None = None, default=REQUIRED, why: str = "") -> float:
    """The single value of ``keyword`` in ``ds`` as a finite float within the range, else DicomError
    naming the file, the tag and the value.

    Non-finite values (NaN, inf, 1e400) are refused first, whatever the range: a NaN passes every
    ``abs(x - y) > tol`` test. ``above`` is an exclusive lower bound, ``minimum`` and ``maximum``
    are inclusive. An absent or empty element is refused as missing unless ``default`` is given:
    pass one only where the DICOM standard lets the element be absent. ``why`` says what the
    value is needed for or where its range comes from; it ends the messages.
    """
    value = ds.get(keyword)
    items = [] if value is None else _values(value)
    if not items or (len(items) == 1 and isinstance(value, (str, bytes)) and not str(value).strip()):
        if default is REQUIRED:
            raise DicomError(name, keyword, "missing" + (f" ({why})" if why else ""))
        return default
    if len(items) > 1:
        raise DicomError(name, keyword, f"is {_text(value)}: expected one number, got {len(items)} values")
    try:
        x = float(items[0])
    except (TypeError, ValueError):
        raise DicomError(name, keyword, f"is {_text(value)!r}: not a number") from None
    return float(_checked(np.array([x]), _text(value), name, keyword, above, minimum, maximum, why)[0])


def floats(value, count: int, name: str, keyword: str, *, above: float | None = None, minimum: float | None = None,
           maximum: float | None = None, why: str = "") -> np.ndarray:
    """``count`` finite numbers from a single or multi-valued element, each within the range (as :func:`number`)."""
    items = _values(value)
    try:
        out = np.array([float(v) for v in items])
    except (TypeError, ValueError):
        raise DicomError(name, keyword, f"not numeric: {value!r}") from None
    if out.size != count:
        raise DicomError(name, keyword, f"expected {count} numbers, got {out.size}: {_text(value)[:200]}")
    return _checked(out, _text(value) if out.size <= 16 else f"{out.size} values", name, keyword, above, minimum,
                    maximum, why)


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
