"""A whole phantom study on disk: the SPECT/PET time series and its VOIs, written into one folder."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prrt_core.errors import InputError
from prrt_core.testing.phantom.images import write_nm, write_pt_series
from prrt_core.testing.phantom.model import Phantom, default_phantom
from prrt_core.testing.phantom.vois import write_rtstruct, write_seg


@dataclass(frozen=True)
class WrittenPhantom:
    """The files written for a phantom: time series, VOIs, and any extras a test adds."""

    folder: Path
    phantom: Phantom
    spect: tuple[Path, ...]
    vois: tuple[Path, ...]
    extra: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def files(self) -> list[Path]:
        return [*self.spect, *self.vois, *self.extra]


def write_phantom(folder: str | Path, phantom: Phantom | None = None, *, modality: str = "NM",
                  quantification: str = "BQML", voi_format: str = "SEG", with_activity: bool = True,
                  with_time: bool = True, calibration_cps_per_mbq: float = 12.0, noise: float = 0.0,
                  seed: int = 0, decay_correction: str = "NONE", extensionless: bool = True) -> WrittenPhantom:
    """Write the phantom's time series and VOIs into ``folder``; returns what was written.

    modality NM (one multi-frame file per time point) or PT (one file per slice).
    quantification (NM): BQML, RWVM or CNTS (counts = Bq/mL x 1e-6 x mL x cps/MBq x scan s).
    voi_format: SEG, RTSTRUCT, both or none. noise: relative Gaussian noise per voxel (seeded).
    extensionless: NM/SEG/RTSTRUCT files without a '.dcm' suffix, as PACS exports often are.
    """
    phantom = phantom or default_phantom()
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    suffix = "" if extensionless else ".dcm"
    spect: list[Path] = []
    voxel_ml = (phantom.spacing_mm / 10.0) ** 3
    for i, t_h in enumerate(phantom.times_h, start=1):
        values = phantom.activity_bq_per_ml(t_h)
        if noise:
            values = values * (1.0 + noise * rng.standard_normal(values.shape))
            values = np.clip(values, 0.0, None)
        if modality == "NM":
            if quantification == "CNTS":
                duration_s = 20.0 * 60  # 60 views x 20 s, written as RotationInformationSequence
                values = values / 1.0e6 * voxel_ml * calibration_cps_per_mbq * duration_s
            spect.append(write_nm(folder / f"spect_tp{i}{suffix}", phantom, t_h, values,
                                  quantification=quantification, with_activity=with_activity, with_time=with_time))
        elif modality == "PT":
            spect.extend(write_pt_series(folder / f"pet_tp{i}", phantom, t_h, values,
                                         decay_correction=decay_correction))
        else:
            raise InputError(f"modality must be NM or PT, got {modality!r}")
    vois: list[Path] = []
    if voi_format in ("SEG", "both"):
        vois.append(write_seg(folder / f"vois_seg{suffix}", phantom))
    if voi_format in ("RTSTRUCT", "both"):
        vois.append(write_rtstruct(folder / f"vois_rtstruct{suffix}", phantom))
    if voi_format not in ("SEG", "RTSTRUCT", "both", "none"):
        raise InputError(f"voi_format must be SEG, RTSTRUCT, both or none, got {voi_format!r}")
    return WrittenPhantom(folder, phantom, tuple(spect), tuple(vois))
