"""Lu-177 kidney dosimetry: physical data and decay, time-activity curves, absorbed dose, BED, voxel maps.

Arrays in, arrays out (numpy broadcasting); units in every name. Modules:
``physics`` (Lu-177 data, decay), ``tac`` (curve fits, TIA), ``absorbed_dose`` (S-value,
local deposition), ``single_time_point`` (Hänscheid 2018, Madsen 2018), ``radiobiology`` (BED,
limits), ``voxel`` (per-voxel maps). The public names of all but ``voxel`` are re-exported here
(``dosimetry.bed`` ...).
"""
from prrt_core.dosimetry.absorbed_dose import (
                                               KIDNEY_REF_MASS_G,
                                               KIDNEY_S_REF_MGY_PER_MBQ_S,
                                               dose_from_s_value_gy,
                                               dose_local_deposition_gy,
                                               dose_per_activity_gy_per_gbq,
                                               kidney_dose_s_value_gy,
                                               kidney_s_value_mgy_per_mbq_s,
)
from prrt_core.dosimetry.dvk import (
                                               density_scaled_dose_gy,
                                               dvk_dose_map_gy,
                                               hu_to_density_g_per_ml,
                                               mird17_voxel_s_value_dose_gy,
)
from prrt_core.dosimetry.kernel import DoseKernel, energy_per_decay_kev, lu177_soft_tissue_kernel
from prrt_core.dosimetry.physics import (
                                               DELTA_LOCAL_GY_G_PER_MBQ_H,
                                               LAMBDA_PHYS_PER_H,
                                               LU177_AUGER_KEV,
                                               LU177_BETA_MEAN_KEV,
                                               LU177_CE_KEV,
                                               LU177_ELECTRON_KEV_PER_DECAY,
                                               LU177_HALF_LIFE_H,
                                               decay_correct,
                                               decay_factor,
)
from prrt_core.dosimetry.radiobiology import (
                                               BED_LIMIT_GY_NO_RISK,
                                               BED_LIMIT_GY_RISK,
                                               DEFAULT_KIDNEY_T_EFF_H,
                                               DOSE_LIMIT_GY,
                                               KIDNEY_ALPHA_BETA_GY,
                                               KIDNEY_T_REP_H,
                                               bed,
                                               bed_total,
                                               cumulative_bed,
                                               eqd2_gy,
                                               repair_factor,
)
from prrt_core.dosimetry.single_time_point import (
                                               HANSCHEID_2018_KIDNEY_GY_ML_PER_MBQ_H,
                                               hanscheid_2018_dose_gy,
                                               madsen_2018_dose_gy,
                                               madsen_2018_tia_mbq_h,
                                               t_eff_from_history_h,
)
from prrt_core.dosimetry.tac import (
                                               TacFit,
                                               fit_best_tac,
                                               fit_bi_exponential,
                                               fit_mono_exponential,
                                               tia_bi_exponential_mbq_h,
                                               tia_mono_exponential_mbq_h,
                                               tia_trapezoid_mbq_h,
)

__all__ = [
    "BED_LIMIT_GY_NO_RISK", "BED_LIMIT_GY_RISK", "DEFAULT_KIDNEY_T_EFF_H", "DELTA_LOCAL_GY_G_PER_MBQ_H",
    "DOSE_LIMIT_GY", "HANSCHEID_2018_KIDNEY_GY_ML_PER_MBQ_H", "KIDNEY_ALPHA_BETA_GY", "KIDNEY_REF_MASS_G",
    "KIDNEY_S_REF_MGY_PER_MBQ_S", "KIDNEY_T_REP_H", "LAMBDA_PHYS_PER_H", "LU177_AUGER_KEV", "LU177_BETA_MEAN_KEV",
    "LU177_CE_KEV", "LU177_ELECTRON_KEV_PER_DECAY", "LU177_HALF_LIFE_H", "TacFit", "bed", "bed_total",
    "cumulative_bed", "decay_correct", "decay_factor", "dose_from_s_value_gy", "dose_local_deposition_gy",
    "dose_per_activity_gy_per_gbq", "eqd2_gy", "fit_best_tac", "fit_bi_exponential", "fit_mono_exponential",
    "hanscheid_2018_dose_gy", "kidney_dose_s_value_gy", "kidney_s_value_mgy_per_mbq_s", "repair_factor",
    "tia_bi_exponential_mbq_h", "tia_mono_exponential_mbq_h", "tia_trapezoid_mbq_h",
    "madsen_2018_dose_gy", "madsen_2018_tia_mbq_h", "t_eff_from_history_h",
]
__all__ += [  # dose-voxel kernel (issue 16)
    "DoseKernel", "density_scaled_dose_gy", "dvk_dose_map_gy", "energy_per_decay_kev", "hu_to_density_g_per_ml",
    "lu177_soft_tissue_kernel", "mird17_voxel_s_value_dose_gy",
]
