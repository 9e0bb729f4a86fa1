"""The Lu-177 dose-voxel kernel: a checked reader of the vendored Interfile kernel and its energy sum.

The kernel (data/kernels/, origin, licence and checksums in its README.md) is PyTheranostics
0.1's ``doodle/kernels/DK_softtissueICRP_mGyperMBqs`` (Apache-2.0): 51 x 51 x 51 voxels of
4.7952 mm, mGy/(MBq s) in ICRP soft tissue. Its header is Interfile 3.3 text (PMOD), read here
with bounds; the files are refused unless their SHA-256 equals the vendored one.

Energy per decay E = sum(K) x m_voxel: K mGy/(MBq s) = 1e-3 J/kg per 1e6 decays, m_voxel =
(0.47952 cm)^3 x rho. At rho = 1.00 g/mL (the header states no density; 1.00 reproduces the
~165 keV the kernel's project quotes) sum(K) = 0.240026 gives 165.18 keV/decay: the 147.95 keV
of Lu-177 electrons plus ~17 keV of its ~35 keV photon energy absorbed within the 24.5 cm cube.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from prrt_core.errors import InputError
from prrt_core.paths import DATA_DIR

KERNEL_DIR = DATA_DIR / "kernels"
LU177_KERNEL_STEM = "DK_softtissueICRP_mGyperMBqs"
# SHA-256 of the vendored files (data/kernels/README.md); a changed file is refused.
LU177_KERNEL_SHA256 = {
    "DK_softtissueICRP_mGyperMBqs.hdr": "5c882f9e2a5e9bec5a6f8ee498bfb84104da04046945e6f613d93cf61b649b56",
    "DK_softtissueICRP_mGyperMBqs.img": "d03a388130db05ab3a68554d67afaf0c8423f01b0762378b1ef267b70ce1d310",
}
# Density the kernel's voxel mass is taken at, g/mL (see the module docstring).
KERNEL_DENSITY_G_PER_ML = 1.00
KERNEL_SHAPE = (51, 51, 51)
MAX_HEADER_BYTES = 16_384
_J_PER_KEV = 1.602176634e-16  # exact (SI 2019)
_FORMATS = {("short float", 4): "f4", ("long float", 8): "f8", ("float", 4): "f4"}


@dataclass(frozen=True, eq=False)
class DoseKernel:
    """A dose-voxel kernel: dose to each voxel per decay-rate-time in the centre voxel.

    values_mgy_per_mbq_s: odd cube, read-only, mGy per MBq s of cumulated activity in the centre
    voxel; voxel_mm: isotropic edge, mm; density_g_per_ml: medium the dose is for; source: file.
    """

    values_mgy_per_mbq_s: np.ndarray
    voxel_mm: float
    density_g_per_ml: float
    source: str

    @property
    def voxel_volume_ml(self) -> float:
        return (self.voxel_mm / 10.0) ** 3

    @property
    def energy_per_decay_kev(self) -> float:
        return energy_per_decay_kev(self)


def energy_per_decay_kev(kernel: DoseKernel) -> float:
    """Energy the kernel deposits per decay, keV: sum(K) x voxel mass (MIRD schema, E = sum D m).

    sum(K) mGy/(MBq s) x 1e-3 (Gy/mGy) / 1e6 (decays/(MBq s)) = Gy per decay; x m kg = J per decay.
    """
    mass_kg = kernel.voxel_volume_ml * kernel.density_g_per_ml * 1.0e-3
    gy_per_decay = float(kernel.values_mgy_per_mbq_s.sum(dtype=np.float64)) * 1.0e-3 / 1.0e6
    return gy_per_decay * mass_kg / _J_PER_KEV


def _read_bounded(path: Path, limit: int) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"kernel file {path.name}: larger than {limit} bytes")
    return data


def _check_sha256(path: Path, data: bytes, expected: str) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise InputError(f"kernel file {path.name}: SHA-256 {got} differs from the vendored {expected}; "
                         "the file was changed (data/kernels/README.md)")


def parse_interfile_header(text: str, name: str) -> dict[str, str]:
    """Interfile 'key := value' lines as a dict of lower-case keys without '!'; InputError naming the file."""
    if not text.lstrip().upper().startswith("!INTERFILE"):
        raise InputError(f"kernel header {name}: not an Interfile header (no '!INTERFILE' first line)")
    out: dict[str, str] = {}
    for line in text.splitlines():
        if ":=" in line:
            key, value = line.split(":=", 1)
            out[re.sub(r"\s+", " ", key.strip().lstrip("!").lower())] = value.strip()
    return out


def _number(fields: dict[str, str], key: str, name: str) -> float:
    try:
        value = float(fields[key])
    except (KeyError, ValueError):
        raise InputError(f"kernel header {name}: field {key!r} missing or not a number "
                         f"({fields.get(key)!r})") from None
    if not np.isfinite(value):
        raise InputError(f"kernel header {name}: field {key!r} not finite ({value})")
    return value


def read_interfile_kernel(hdr_path: str | Path, *, sha256: dict[str, str] | None = None,
                          density_g_per_ml: float = KERNEL_DENSITY_G_PER_ML) -> DoseKernel:
    """Read a 51^3 kernel (Interfile .hdr + raw .img), checked: size, format, voxel, finite, >= 0.

    sha256: file name -> expected hex digest (both files must be listed); None skips the check.
    """
    hdr_path = Path(hdr_path)
    raw = _read_bounded(hdr_path, MAX_HEADER_BYTES)
    if sha256 is not None:
        _check_sha256(hdr_path, raw, sha256.get(hdr_path.name, ""))
    fields = parse_interfile_header(raw.decode("latin-1"), hdr_path.name)
    shape = tuple(int(_number(fields, f"matrix size [{k}]", hdr_path.name)) for k in (1, 2, 3))
    if shape != KERNEL_SHAPE:
        raise InputError(f"kernel header {hdr_path.name}: matrix size {shape}, expected {KERNEL_SHAPE}")
    voxel = [_number(fields, f"scaling factor (mm/pixel) [{k}]", hdr_path.name) for k in (1, 2, 3)]
    if not (0.5 <= voxel[0] <= 20.0 and np.allclose(voxel, voxel[0], rtol=1e-6)):
        raise InputError(f"kernel header {hdr_path.name}: voxel {voxel} mm, expected isotropic 0.5-20 mm")
    fmt = (fields.get("number format", "").lower(), int(_number(fields, "number of bytes per pixel", hdr_path.name)))
    if fmt not in _FORMATS:
        raise InputError(f"kernel header {hdr_path.name}: number format {fmt} not supported")
    order = fields.get("imagedata byte order", "LITTLEENDIAN").upper()
    if order not in ("LITTLEENDIAN", "BIGENDIAN"):
        raise InputError(f"kernel header {hdr_path.name}: imagedata byte order {order!r}")
    units = fields.get("units", "")
    if units.replace(" ", "").lower() not in ("mgy/mbqs", "mgy/(mbqs)", "mgy/(mbq*s)"):
        raise InputError(f"kernel header {hdr_path.name}: units {units!r}, expected mGy/MBqs")
    if int(_number(fields, "data offset in bytes", hdr_path.name)) != 0:
        raise InputError(f"kernel header {hdr_path.name}: data offset must be 0")
    img_name = Path(fields.get("name of data file", "")).name  # a bare name beside the header, never a path
    if not img_name:
        raise InputError(f"kernel header {hdr_path.name}: no 'name of data file'")
    img_path = hdr_path.with_name(img_name)
    expected_bytes = int(np.prod(shape)) * fmt[1]
    data = _read_bounded(img_path, expected_bytes)
    if sha256 is not None:
        _check_sha256(img_path, data, sha256.get(img_path.name, ""))
    if len(data) != expected_bytes:
        raise InputError(f"kernel file {img_path.name}: {len(data)} bytes, expected {expected_bytes}")
    dtype = np.dtype(("<" if order == "LITTLEENDIAN" else ">") + _FORMATS[fmt])
    values = np.frombuffer(data, dtype=dtype).astype(np.float64).reshape(shape)
    if not np.isfinite(values).all() or (values < 0).any():
        raise InputError(f"kernel file {img_path.name}: values must be finite and >= 0")
    centre = tuple(n // 2 for n in shape)
    if values[centre] != values.max() or values.max() <= 0:
        raise InputError(f"kernel file {img_path.name}: the largest value is not at the centre voxel {centre}")
    values.setflags(write=False)
    return DoseKernel(values, float(voxel[0]), float(density_g_per_ml), img_path.name)


@lru_cache(maxsize=1)
def lu177_soft_tissue_kernel() -> DoseKernel:
    """The vendored Lu-177 ICRP soft-tissue kernel (4.7952 mm, mGy/(MBq s)), checksums verified."""
    return read_interfile_kernel(KERNEL_DIR / f"{LU177_KERNEL_STEM}.hdr", sha256=LU177_KERNEL_SHA256)
