"""Dose-voxel kernel: the vendored Lu-177 kernel, MIRD 17 convolution, resampling, density, the phantom.

Units: the kernel K is mGy per MBq s in the centre voxel; 1 MBq h = 3.6e9 decays; 1 keV =
1.602176634e-16 J (exact). Lu-177 electrons deposit 147.95 keV per decay (EJNMMI Phys 2020,
Table 1, dosimetry.LU177_ELECTRON_KEV_PER_DECAY); its photons carry ~35 keV per decay (113 keV x
6.2 % + 208 keV x 10.4 % + X-rays, NNDC decay data), part of which a 24.5 cm kernel absorbs.
"""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from prrt_core import dicom, dosimetry
from prrt_core.dicom import study_dose
from prrt_core.dosimetry import dvk, kernel
from prrt_core.errors import InputError
from prrt_core.testing import phantom
from prrt_core.views import dosimetry as dose_view

K = kernel.lu177_soft_tissue_kernel()
J_PER_KEV = 1.602176634e-16
DECAYS_PER_MBQ_H = 3.6e9
E_KEV = K.energy_per_decay_kev


def uniform_dose_gy(c_mbq_h_per_ml: float, energy_kev: float = E_KEV, rho: float = 1.0) -> float:
    """Dose of an infinite uniform medium: c x decays x E / (rho x 1 g/mL x 1e-3 kg/g)."""
    return c_mbq_h_per_ml * DECAYS_PER_MBQ_H * energy_kev * J_PER_KEV / (rho * 1.0e-3)


# --- the kernel ----------------------------------------------------------------------------------
def test_kernel_shape_voxel_and_energy_sum():
    assert K.values_mgy_per_mbq_s.shape == (51, 51, 51)
    assert K.voxel_mm == pytest.approx(4.7952)
    assert K.density_g_per_ml == 1.0
    # sum(K) = 0.240026 mGy/(MBq s); x 1e-3 Gy/mGy / 1e6 decays/(MBq s) = 2.40026e-10 Gy/decay;
    # voxel mass (0.47952 cm)^3 x 1.00 g/mL = 0.110259 g = 1.10259e-4 kg -> 2.64651e-14 J/decay
    # / 1.602177e-16 J/keV = 165.18 keV per decay (the issue: ~165 keV).
    assert float(K.values_mgy_per_mbq_s.sum()) == pytest.approx(0.240026, rel=1e-5)
    assert E_KEV == pytest.approx(165.18, abs=0.01)
    # Electrons (147.95 keV) plus a part, not all, of the ~35 keV of photons.
    assert dosimetry.LU177_ELECTRON_KEV_PER_DECAY < E_KEV < dosimetry.LU177_ELECTRON_KEV_PER_DECAY + 35.0
    assert not K.values_mgy_per_mbq_s.flags.writeable


def test_kernel_centre_voxel_holds_the_electron_energy():
    # Lu-177 beta ranges (mean ~0.7 mm, max ~2 mm in water) are small against 4.8 mm voxels: the
    # centre voxel keeps most of the 147.95 keV; 86 % of 165.2 keV = 142 keV.
    share = float(K.values_mgy_per_mbq_s[25, 25, 25] / K.values_mgy_per_mbq_s.sum())
    assert share == pytest.approx(0.8608, abs=1e-3)
    assert share * E_KEV < dosimetry.LU177_ELECTRON_KEV_PER_DECAY


def _copy_kernel(tmp_path):
    for name in kernel.LU177_KERNEL_SHA256:
        shutil.copy(kernel.KERNEL_DIR / name, tmp_path / name)
    return tmp_path / "DK_softtissueICRP_mGyperMBqs.hdr", tmp_path / "DK_softtissueICRP_mGyperMBqs.img"


def test_a_changed_kernel_file_is_refused_naming_it(tmp_path):
    hdr, img = _copy_kernel(tmp_path)
    assert kernel.read_interfile_kernel(hdr, sha256=kernel.LU177_KERNEL_SHA256).energy_per_decay_kev == E_KEV
    data = bytearray(img.read_bytes())
    data[4 * (25 * 51 * 51 + 25 * 51 + 25)] ^= 1  # one bit of the centre value
    img.write_bytes(bytes(data))
    with pytest.raises(InputError, match="DK_softtissueICRP_mGyperMBqs.img: SHA-256"):
        kernel.read_interfile_kernel(hdr, sha256=kernel.LU177_KERNEL_SHA256)
    hdr.write_bytes(hdr.read_bytes().replace(b"4.7952", b"4.7953"))
    with pytest.raises(InputError, match="DK_softtissueICRP_mGyperMBqs.hdr: SHA-256"):
        kernel.read_interfile_kernel(hdr, sha256=kernel.LU177_KERNEL_SHA256)


@pytest.mark.parametrize(("old", "new", "message"), [
    (b"!matrix size [1] := 51", b"!matrix size [1] := 52", "matrix size"),
    (b"short float", b"signed integer", "number format"),
    (b"units := mGy/MBqs", b"units := Bq/mL", "units"),
    (b"!INTERFILE :=", b"!NOTINTERFILE :=", "not an Interfile"),
])
def test_a_bad_header_is_refused(tmp_path, old, new, message):
    hdr, _ = _copy_kernel(tmp_path)
    assert old in hdr.read_bytes()
    hdr.write_bytes(hdr.read_bytes().replace(old, new))
    with pytest.raises(InputError, match=message):
        kernel.read_interfile_kernel(hdr)


def test_non_finite_or_short_kernel_data_is_refused(tmp_path):
    hdr, img = _copy_kernel(tmp_path)
    values = np.fromfile(img, "<f4")
    values[100] = np.nan
    values.tofile(img)
    with pytest.raises(InputError, match="finite"):
        kernel.read_interfile_kernel(hdr)
    img.write_bytes(img.read_bytes()[:-4])
    with pytest.raises(InputError, match="bytes, expected 530604"):
        kernel.read_interfile_kernel(hdr)


# --- the convolution ------------------------------------------------------------------------------
def test_point_source_deposits_the_kernel_energy_sum():
    # 1 MBq h in one voxel of a large medium (101^3 kernel voxels, the kernel fits whole):
    # sum(D x m) = 3.6e9 decays x 165.18 keV.
    n = 101
    tia = np.zeros((n, n, n))
    tia[50, 50, 50] = 1.0 / K.voxel_volume_ml  # MBq h/mL
    dose = dvk.dvk_dose_map_gy(tia, (K.voxel_mm,) * 3, K)
    energy_j = float(dose.sum(dtype=np.float64)) * K.voxel_volume_ml * 1.0e-3
    assert energy_j == pytest.approx(DECAYS_PER_MBQ_H * E_KEV * J_PER_KEV, rel=1e-4)
    assert dose[50, 50, 50] == pytest.approx(3.6 * float(K.values_mgy_per_mbq_s[25, 25, 25]), rel=1e-4)


@pytest.mark.parametrize("s", [4.42, 3.5])
def test_point_source_on_another_grid_conserves_tia_and_energy(s):
    # 4.42 mm: the kernel on the SPECT grid, scaled by v_kernel / v_voxel; 3.5 mm (> 15 % off):
    # resampled to 4.7952 mm and back, both totals renormalised. Either way: 3.6e9 x 165.18 keV.
    n = 111
    assert (abs(s / K.voxel_mm - 1.0) <= dvk.SAME_GRID_TOLERANCE) == (s == 4.42)
    tia = np.zeros((n, n, n))
    tia[55, 55, 55] = 1.0 / (s / 10.0) ** 3
    dose = dvk.dvk_dose_map_gy(tia, (s,) * 3, K)
    energy_j = float(dose.sum(dtype=np.float64)) * (s / 10.0) ** 3 * 1.0e-3
    assert energy_j == pytest.approx(DECAYS_PER_MBQ_H * E_KEV * J_PER_KEV, rel=1e-4)
    assert dose.shape == tia.shape and dose.argmax() == np.ravel_multi_index((55, 55, 55), tia.shape)


@pytest.mark.parametrize("spacing_mm", [4.7952, 4.42, 3.5])
def test_large_uniform_region_is_local_deposition_plus_the_photon_share(spacing_mm):
    # Centre of a cube of side L = 354 mm, > 2 x 122 mm (the kernel's half-width): the whole kernel
    # sums there, D = c x 3.6e9 x (147.95 + (165.18 - 147.95)) keV / (1 g/mL). Without resampling
    # (4.7952 mm, and 4.42 mm, the kernel on the SPECT grid with its energy kept) this is exact
    # (float32: 1e-5). Resampled (3.5 mm), linear interpolation moves activity across the cube's
    # surface by < half a voxel; the total is renormalised, so the interior changes by at most that
    # share of the volume, 6 L^2 (s/2) / L^3 = 3 s / L = 4.1 % (s = 4.7952 mm); measured +1.3 %.
    n_cube = int(round(354.0 / spacing_mm))
    n = n_cube + 16
    tia = np.zeros((n, n, n))
    tia[8:8 + n_cube, 8:8 + n_cube, 8:8 + n_cube] = 0.5
    dose = dvk.dvk_dose_map_gy(tia, (spacing_mm,) * 3, K)
    centre = dose[n // 2, n // 2, n // 2]
    ldm = dosimetry.dose_local_deposition_gy(0.5, 1.0)  # 0.5 MBq h in 1 g: 147.95 keV per decay
    photons = uniform_dose_gy(0.5, E_KEV - dosimetry.LU177_ELECTRON_KEV_PER_DECAY)
    assert ldm == pytest.approx(uniform_dose_gy(0.5, dosimetry.LU177_ELECTRON_KEV_PER_DECAY), rel=1e-4)
    assert centre == pytest.approx(ldm + photons, rel=1e-4 if spacing_mm != 3.5 else 3 * K.voxel_mm / 354.0)


def _sphere(radius_mm: float, n: int) -> np.ndarray:
    axis = (np.arange(n) - n // 2) * K.voxel_mm
    zz, yy, xx = np.meshgrid(axis, axis, axis, indexing="ij")
    return zz**2 + yy**2 + xx**2 <= radius_mm**2


def test_small_sphere_shows_the_partial_volume_drop_from_the_kernel_itself():
    # 2-cm-diameter sphere (33 kernel voxels) of uniform TIA. Expected mean / uniform-medium dose,
    # straight from the kernel (no FFT): sum over source/target pairs i, j in the sphere of
    # K(i - j), over 33 x sum(K). It is 0.898: the sphere keeps the electrons (147.95 / 165.18 =
    # 0.896) and loses most of the photons.
    mask = _sphere(10.0, 41)
    idx = np.argwhere(mask)
    assert len(idx) == 33
    pairs = sum(float(K.values_mgy_per_mbq_s[tuple((idx - a + 25).T)].sum()) for a in idx)
    expected = pairs / (len(idx) * float(K.values_mgy_per_mbq_s.sum()))
    assert expected == pytest.approx(0.8977, abs=1e-3)
    dose = dvk.dvk_dose_map_gy(mask.astype(float), (K.voxel_mm,) * 3, K)
    uniform = uniform_dose_gy(1.0)
    assert dose[mask].mean() / uniform == pytest.approx(expected, rel=1e-4)
    centre, edge = dose[20, 20, 20], dose[20, 20, 22]  # (0, 0, 2) is on the surface
    assert edge < centre < uniform


def test_large_sphere_centre_is_close_to_the_uniform_value():
    # Radius 80 mm: the centre misses only the kernel beyond 80 mm (3.5 % of its sum, photons).
    mask = _sphere(80.0, 81)
    dose = dvk.dvk_dose_map_gy(mask.astype(float), (K.voxel_mm,) * 3, K)
    axis = (np.arange(51) - 25) * K.voxel_mm
    r = np.sqrt(sum(g**2 for g in np.meshgrid(axis, axis, axis, indexing="ij")))
    outside = float(K.values_mgy_per_mbq_s[r > 80.0].sum() / K.values_mgy_per_mbq_s.sum())
    assert outside == pytest.approx(0.035, abs=1e-3)
    assert dose[40, 40, 40] / uniform_dose_gy(1.0) == pytest.approx(1.0 - outside, rel=1e-4)


def test_phantom_on_4_42_mm_voxels_keeps_the_lesion_dose():
    # Why the kernel is applied on SPECT voxels within 15 % of its own (dvk module docstring):
    # linear resampling to 4.7952 mm and back would lower the 3-cm lesion's mean by 18 %. On its own
    # grid the phantom's lesion gets DVK / LDM = 1.015 (test_phantom_dvk_beside_ldm); at 4.42 mm too.
    ph = phantom.default_phantom(shape=(48, 64, 72), spacing_mm=4.42)
    tia = ph.expected_dose_map_gy(1.0) / (
        dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H)  # TIA MBq h/mL: D(1 g/mL) / Delta
    lesion = ph.masks()["Lesion 1"]
    dose = dvk.dvk_dose_map_gy(tia, (4.42,) * 3, K)
    ldm = dosimetry.dose_local_deposition_gy(tia, 1.0)
    assert dose[lesion].mean() / ldm[lesion].mean() == pytest.approx(1.015, abs=0.01)


def test_refuses_bad_maps():
    with pytest.raises(InputError, match="finite"):
        dvk.dvk_dose_map_gy(np.full((4, 4, 4), np.nan), (4.0,) * 3, K)
    with pytest.raises(InputError, match="3-D"):
        dvk.dvk_dose_map_gy(np.zeros((4, 4)), (4.0,) * 3, K)
    with pytest.raises(InputError, match="spacing"):
        dvk.dvk_dose_map_gy(np.zeros((4, 4, 4)), (4.0, 0.0, 4.0), K)


# --- density ----------------------------------------------------------------------------------------
def test_hu_to_density_schneider_2000_table():
    # Table points and one interpolation: 0 HU between (-97, 0.930486) and (14, 1.03):
    # 0.930486 + 97/111 x 0.099514 = 1.017449 g/mL.
    rho = dvk.hu_to_density_g_per_ml([-2000.0, -1000.0, 0.0, 100.0, 1600.0, 5000.0])
    assert rho == pytest.approx([0.00121, 0.00121, 1.017449, 1.1199, 1.9642, 2.8], abs=1e-6)
    with pytest.raises(InputError, match="finite"):
        dvk.hu_to_density_g_per_ml([np.nan])


def test_density_scaling_and_the_air_guard():
    dose = np.array([1.0, 1.0, 1.0, 1.0])
    rho = dvk.hu_to_density_g_per_ml([-1000.0, -950.0, -500.0, 14.0])  # air, air, lung, tissue
    out = dvk.density_scaled_dose_gy(dose, rho, K)
    assert out[0] == 0.0 and out[1] == 0.0  # < 0.1 g/mL: reported as 0 Gy, not 1/0.05 = 20x
    assert out[2] == pytest.approx(1.0 / np.interp(-500.0, [-1000.0, -98.0], [0.00121, 0.93]))
    assert out[3] == pytest.approx(1.0 / 1.03)
    assert dvk.density_scaled_dose_gy(2.08, 1.04, K) == pytest.approx(2.0)


# --- the phantom study ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def result(tmp_path_factory):
    written = phantom.write_phantom(tmp_path_factory.mktemp("dvk") / "series")
    return study_dose.analyse(written.folder)


def test_phantom_dvk_beside_ldm(result):
    # Uniform structures: deep inside, DVK / LDM = 165.18 / 147.95 = 1.1165 (same density, 1.04);
    # the VOI mean is lower, as electrons and photons leave through the surface: the kidneys
    # (145 g) gain ~3 %, the 15 g lesion ~1.5 %.
    organs = result.organs.set_index("voi")
    ratio = organs["dvk_mean_dose_gy"] / organs["voxel_mean_dose_gy"]
    assert ratio["Kidney left"] == pytest.approx(1.0317, abs=2e-3)
    assert ratio["Kidney right"] == pytest.approx(1.0315, abs=2e-3)
    assert ratio["Lesion 1"] == pytest.approx(1.0153, abs=2e-3)
    assert (ratio < E_KEV / dosimetry.LU177_ELECTRON_KEV_PER_DECAY).all()
    assert result.dose_dvk_gy.shape == result.dose_gy.shape
    assert study_dose.DoseSource.DVK.column == "dvk_mean_dose_gy"
    assert study_dose.DoseSource.DVK in result.dose_sources
    assert result.organ_dose("kidney_left", study_dose.DoseSource.DVK) == pytest.approx(
        organs.loc["Kidney left", "dvk_mean_dose_gy"])
    assert set(result.dvh["source"]) == {"voxel (local deposition)", "voxel (DVK convolution)"}
    table = dose_view.organ_table(result)
    assert "DVK mean dose (Gy)" in table
    label, value, detail = dose_view.headline_doses(result, study_dose.DoseSource.DVK)[0]
    assert label == "Kidneys, both (Gy)" and value == pytest.approx(organs.iloc[3]["dvk_mean_dose_gy"])
    assert "LDM 4.04 Gy" in detail


def test_one_time_point_is_refused_with_the_way_forward(result):
    one = dataclasses.replace(result.study, time_points=result.study.time_points[:1])
    with pytest.raises(dicom.DicomError, match="only one SPECT time point.*single-time-point") as err:
        study_dose.compute(one)
    assert err.value.tag == "AcquisitionDateTime"
    assert err.value.file == result.study.time_points[0].source


def test_off_the_kernel_grid_the_study_has_no_dvk_dose_and_says_why(tmp_path):
    # 3.3 mm voxels are 31 % from the kernel's 4.7952 mm: resampling there understates VOI means by
    # 8-17 % (dvk.py), so study_dose shows local deposition and the organ-level dose only.
    from prrt_core.dicom import study_dose
    from prrt_core.testing import phantom

    written = phantom.write_phantom(tmp_path / "fine", phantom.default_phantom(spacing_mm=3.3))
    result = study_dose.analyse(written.files)
    assert study_dose.DoseSource.DVK not in result.dose_sources and result.dose_dvk_gy is None
    assert "dvk_mean_dose_gy" not in result.organs
    assert result.dvk_note.startswith("Dose-voxel kernel not applied: the SPECT voxels (3.30 x 3.30 x 3.30 mm)")
    assert "voxel (DVK convolution)" not in set(result.dvh["source"])
