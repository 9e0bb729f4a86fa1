"""The demo cohort's draws: apportioned labels and the calibrated survival times of its courses.

Every patient follows one of seven courses after salvage start (``COURSES``; the
counts of the 35-patient study in ``prrt_core.datasets.demo``'s docstring). Other
cohort sizes keep the proportions by largest-remainder apportionment. Survival times
(months) are scaled so that the Kaplan–Meier medians and restricted means match the
published ones (Rudisile et al., BMC Cancer 2019;19:788).
"""

from __future__ import annotations

import numpy as np

from prrt_core.clinical.survival import km_summary

COURSES = ("A", "B", "C", "D", "E", "F", "G")
# Patients per course in the 35-patient study (see module docstring).
COURSE_COUNTS_35 = {"A": 2, "B": 1, "C": 5, "D": 11, "E": 8, "F": 1, "G": 7}
# Salvage cycles per course, as counts among that course's patients in the 35-patient cohort.
SALVAGE_CYCLES_35 = {"A": {1: 2}, "B": {1: 1}, "C": {2: 5}, "D": {2: 8, 3: 3},
                     "E": {2: 4, 3: 2, 4: 2}, "F": {2: 1}, "G": {2: 3, 3: 2, 4: 2}}
# Salvage-course deaths per course (35-patient cohort); A died before restaging.
DEATHS_35 = {"A": 2, "B": 0, "C": 3, "D": 3, "E": 2, "F": 0, "G": 0}


def apportion(counts: dict, n: int) -> dict:
    """Scale integer ``counts`` to total ``n`` by largest remainder (exact when n is their sum)."""
    keys = list(counts)
    weights = np.array([counts[k] for k in keys], dtype=float)
    quota = weights / weights.sum() * n
    whole = np.floor(quota).astype(int)
    order = np.argsort(-(quota - whole), kind="stable")
    whole[order[: n - whole.sum()]] += 1
    return dict(zip(keys, whole.tolist()))


def draw(rng: np.random.Generator, counts: dict, n: int) -> np.ndarray:
    """``n`` labels (the keys of ``counts``) in its proportions (apportion), shuffled."""
    sizes = apportion(counts, n)
    return rng.permutation(np.repeat(list(sizes), list(sizes.values())))


def _km_median_rmst(t: np.ndarray, e: np.ndarray) -> tuple[float, float]:
    summary = km_summary(t, e)
    return summary["median"], summary["rmst"]


def _bisect(f, lo: float, hi: float, target: float, iters: int = 40) -> float:
    """x in [lo, hi] with f(x) = target for an increasing f (clamped to the bounds)."""
    if f(lo) >= target:
        return lo
    if f(hi) <= target:
        return hi
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


def draw_within(rng, labels: np.ndarray, per_label: dict) -> np.ndarray:
    """Assign a value to each patient from per-label count tables (apportioned, shuffled)."""
    out = np.zeros(len(labels), dtype=int)
    for label, table in per_label.items():
        idx = np.flatnonzero(labels == label)
        if idx.size:
            out[idx] = draw(rng, table, idx.size)
    return out


def survival_times(rng: np.random.Generator, course: np.ndarray, pub: dict) -> dict[str, np.ndarray]:
    """Survival times in months, calibrated to the published Kaplan–Meier figures."""
    n = len(course)
    pfs2 = np.zeros(n)
    ev2 = np.ones(n, dtype=bool)
    c = {k: course == k for k in COURSES}
    pfs2[c["A"]] = rng.uniform(1.4, 2.4, c["A"].sum())
    pfs2[c["B"]] = rng.uniform(1.8, 2.4, c["B"].sum())
    ev2[c["B"] | c["G"]] = False
    pfs2[c["C"]] = rng.uniform(2.6, 3.4, c["C"].sum())
    pfs2[c["D"]] = rng.uniform(4.2, 6.0, c["D"].sum())
    pfs2[c["E"]] = rng.uniform(7.0, 30.0, c["E"].sum())
    pfs2[c["F"]] = rng.uniform(16.0, 22.0, c["F"].sum())
    # Median PFS after salvage: the D course holds the 50 % crossing; scale it onto the target.
    target_pfs2 = pub["pfs_months"]["after_salvage"]["median"]
    median_now = _km_median_rmst(np.where(c["G"], 40.0, pfs2), ev2)[0]
    pfs2[c["D"]] *= target_pfs2 / median_now

    death = draw_within(rng, course, {k: {1: v, 0: COURSE_COUNTS_35[k] - v}
                                      for k, v in DEATHS_35.items()}).astype(bool)
    alive = ~death & ~c["B"]
    fu_shape = rng.permutation(np.linspace(0.02, 0.98, alive.sum()))
    dead_after = rng.uniform(4.0, 30.0, n)

    def os2_for(scale: float) -> np.ndarray:
        os2 = np.where(c["A"], pfs2, np.where(c["B"], pfs2, pfs2 + dead_after))
        fu = 6.0 + 74.0 * scale * fu_shape
        os2[alive] = np.maximum(fu, np.where(ev2, pfs2, 0.0)[alive] + 1.0)
        return os2

    target_os2 = pub["os_months"]["after_salvage"]["mean"]
    scale = _bisect(lambda s: _km_median_rmst(os2_for(s), death)[1], 0.3, 2.0, target_os2)
    os2 = os2_for(scale)
    pfs2 = np.where(c["G"], os2, pfs2)

    # PFS after initial PRRT: every patient progressed; log-normal around the published median.
    target_pfs1 = pub["pfs_months"]["after_initial_prrt"]["median"]
    pfs1 = np.sort(np.exp(rng.normal(np.log(target_pfs1), 0.33, n)))
    pfs1 *= target_pfs1 / np.median(pfs1) if n % 2 == 0 else target_pfs1 / pfs1[n // 2]
    pfs1 = np.maximum(rng.permutation(pfs1), 14.0)
    gap_shape = rng.uniform(0.0, 1.0, n)

    def os1_for(extra: float) -> np.ndarray:
        return pfs1 + 1.5 + (2.0 + extra) * gap_shape + os2

    target_os1 = pub["os_months"]["after_initial_prrt"]["mean"]
    extra = _bisect(lambda x: _km_median_rmst(os1_for(x), death)[1], 0.0, 10.0, target_os1)
    gap = 1.5 + (2.0 + extra) * gap_shape
    return {"pfs1": pfs1, "gap": gap, "pfs2": pfs2, "ev2": ev2, "os2": os2, "death": death}
