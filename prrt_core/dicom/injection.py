"""The administration: injected Lu-177 activity (MBq) and date-time, from the files or entered.

The files state it in the Radiopharmaceutical Information Sequence (0054,0016). Entered
values take precedence and are reported as such; missing and not entered is an error,
never a default. Files that both state the injection must agree.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydicom.dataset import Dataset
from pydicom.valuerep import DT

from prrt_core import dosimetry
from prrt_core.dicom.tags import number
from prrt_core.errors import DicomError, InputError, tag_label

if TYPE_CHECKING:
    from prrt_core.dicom.spect import SpectTimePoint

logger = logging.getLogger(__name__)

# Lu-177 half-life in seconds (dosimetry.LU177_HALF_LIFE_H). A file's RadionuclideHalfLife
# further than 2 % from it is not Lu-177 (older tables give 6.71-6.73 d, 1.3 % longer).
LU177_HALF_LIFE_S = dosimetry.LU177_HALF_LIFE_H * 3600.0
HALF_LIFE_TOLERANCE = 0.02
# The largest administration accepted, Bq: 30 GBq, four times the standard 7.4 GBq cycle of
# 177Lu-DOTATATE (NETTER-1, Strosberg et al., N Engl J Med 2017;376:125-35; IAEA/EANM/SNMMI
# practical guidance, Zaknun et al., Eur J Nucl Med Mol Imaging 2013;40:800-16). A larger
# RadionuclideTotalDose is a unit error, not an injection.
MAX_ACTIVITY_BQ = 30.0e9
# Activity and time agreement between files that both state the injection.
ACTIVITY_AGREEMENT_RTOL = 0.005
INJECTION_TIME_AGREEMENT_S = 60.0


@dataclass(frozen=True)
class Injection:
    """Injected activity and time. *_origin is 'entered' or the DICOM tag (no file names: it is
    stored as provenance); *_file names the file that stated it, for messages and display only."""

    activity_mbq: float
    time: dt.datetime
    activity_origin: str
    time_origin: str
    activity_file: str | None = None
    time_file: str | None = None

    @property
    def activity_source(self) -> str:
        return self.activity_origin + (f" of {self.activity_file}" if self.activity_file else "")

    @property
    def time_source(self) -> str:
        return self.time_origin + (f" of {self.time_file}" if self.time_file else "")


def stated_injection(ds: Dataset, name: str) -> tuple[float | None, dt.datetime | None]:
    """(activity MBq, injection date-time) stated in the file; None where not stated.

    Refuses a RadionuclideHalfLife that is not Lu-177's.
    """
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    if not seq:
        return None, None
    item = seq[0]
    # Both may be absent or empty, meaning "not stated": Type 2 in the PET Isotope Module (PS3.3
    # C.8.9.2), Type 3 in the NM Isotope Module (C.8.4.10). Non-finite values are refused first.
    half_life_s = number(item, "RadionuclideHalfLife", name, above=0, default=None, why="seconds")
    if half_life_s is not None and abs(half_life_s / LU177_HALF_LIFE_S - 1.0) > HALF_LIFE_TOLERANCE:
        raise DicomError(name, "RadionuclideHalfLife",
                         f"is {half_life_s:.0f} s ({half_life_s / 86400:.3f} d), not Lu-177 "
                         f"({LU177_HALF_LIFE_S:.0f} s): this series is not a Lu-177 acquisition")
    total_bq = number(item, "RadionuclideTotalDose", name, above=0, maximum=MAX_ACTIVITY_BQ, default=None,
                      why="Bq, PS3.3 C.8.9.1; at most 30 GBq, four times the standard 7.4 GBq cycle")
    activity = None if total_bq is None else total_bq / 1.0e6  # Bq -> MBq
    when = None
    start = item.get("RadiopharmaceuticalStartDateTime")
    if start not in (None, ""):
        try:
            when = DT(str(start)).replace(tzinfo=None)
        except (ValueError, TypeError):
            raise DicomError(name, "RadiopharmaceuticalStartDateTime", f"not a valid date-time: {start!r}") from None
    return activity, when


def resolve_injection(points: Sequence[SpectTimePoint], activity_mbq: float | None,
                      injection_time: dt.datetime | None) -> Injection:
    """The injection of a time series: entered values, else the one the time points agree on."""
    stated_a = [(tp.injection_source, tp.injection_activity_mbq) for tp in points if tp.injection_activity_mbq]
    stated_t = [(tp.injection_source, tp.injection_time) for tp in points if tp.injection_time is not None]
    for label, stated, close in (
            ("RadionuclideTotalDose", stated_a, lambda a, b: abs(a / b - 1) <= ACTIVITY_AGREEMENT_RTOL),
            ("RadiopharmaceuticalStartDateTime", stated_t,
             lambda a, b: abs((a - b).total_seconds()) <= INJECTION_TIME_AGREEMENT_S)):
        for name, value in stated[1:]:
            if not close(value, stated[0][1]):
                raise DicomError(name, label, f"is {value} but {stated[0][0]} says {stated[0][1]}: the time points "
                                 "are not from one administration")
    first = points[0].source
    a_file = t_file = None
    if activity_mbq is not None:
        if not (np.isfinite(activity_mbq) and activity_mbq > 0):
            raise InputError(f"activity_mbq must be > 0, got {activity_mbq}")
        a_origin = "entered" + (f" (files state {stated_a[0][1]:.1f} MBq)" if stated_a else "")
        if stated_a and abs(stated_a[0][1] / activity_mbq - 1) > ACTIVITY_AGREEMENT_RTOL:
            logger.warning("entered injected activity %.1f MBq differs from the files' %.1f MBq",
                           activity_mbq, stated_a[0][1])
    elif stated_a:
        activity_mbq, a_origin, a_file = stated_a[0][1], tag_label("RadionuclideTotalDose"), stated_a[0][0]
    else:
        raise DicomError(first, "RadionuclideTotalDose", "missing (no RadiopharmaceuticalInformationSequence "
                         "(0054,0016) states the injected activity in any time point): enter the injected activity")
    if injection_time is not None:
        t_origin = "entered"
    elif stated_t:
        injection_time, t_origin, t_file = stated_t[0][1], tag_label("RadiopharmaceuticalStartDateTime"), stated_t[0][0]
    else:
        raise DicomError(first, "RadiopharmaceuticalStartDateTime", "missing in every time point (a start time "
                         "without a date is not enough for a multi-day series): enter the injection date and time")
    return Injection(float(activity_mbq), injection_time, a_origin, t_origin, a_file, t_file)
