"""Benchmark of the dose-voxel-kernel convolution (prrt_core.dosimetry.dvk) at 128 x 128 x 128.

A TIA map of 128^3 voxels of 3.9 mm (more than 15 % off the kernel's
4.7952 mm, so the timing includes resampling to the kernel's grid and back) convolved with the
51^3 Lu-177 kernel: dvk_dose_map_gy, target <= 1 s. Kernel loading (cached) is excluded.
Synthetic input: the voxel benchmark's series fitted to TIA (bench_voxel.synthetic_series).
"""
from __future__ import annotations

import numpy as np

from benchmarks.bench_voxel import TIMES_H, synthetic_series
from benchmarks.timing import median_time, peak_mb
from prrt_core.dosimetry import dvk, kernel, voxel

SPACING_MM = (3.9, 3.9, 3.9)


def run(quick: bool) -> list[dict]:
    tia = voxel.fit_voxels(TIMES_H, synthetic_series(), scale=1.0e-6).tia
    k = kernel.lu177_soft_tissue_kernel()

    def convolve():
        return dvk.dvk_dose_map_gy(tia, SPACING_MM, k)

    t = median_time(convolve, 3 if quick else 7)
    peak = peak_mb(convolve)
    dose = convolve()
    total_mbq_h = float(tia.sum(dtype=np.float64)) * np.prod(SPACING_MM) / 1000.0
    energy_ratio = (float(dose.sum(dtype=np.float64)) * np.prod(SPACING_MM) / 1000.0 * 1.0e-3
                    / (total_mbq_h * 3.6e9 * k.energy_per_decay_kev * 1.602176634e-16))
    shape = dvk.kernel_grid_shape(tia.shape, SPACING_MM, k)
    return [{"name": "DVK convolution 128^3 (3.9 mm -> 4.7952 mm kernel grid and back)", "median_s": t,
             "peak_mb": peak, "target": "<= 1 s", "ratio": None, "met": t <= 1.0,
             "note": f"scipy.signal.fftconvolve, float32, kernel grid {'x'.join(map(str, shape))}; "
                     f"energy in field / kernel sum x TIA = {energy_ratio:.3f} (< 1: escapes the field)"}]
