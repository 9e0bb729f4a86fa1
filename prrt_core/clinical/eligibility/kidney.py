"""The kidney limit policy in force and the two kidney criteria of the checklist.

Thresholds come from the settings the board projects with (``KidneyModelSettings``, which start
from ``data/eligibility.toml``: ``config.default_settings``); what crossing each means (exclude /
caution) and its source come from the file.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from prrt_core.clinical.eligibility.config import Config, Rule
from prrt_core.clinical.eligibility.items import Item, Severity, Status
from prrt_core.clinical.eligibility.numbers import beside_limit
from prrt_core.projection.settings import KidneyModelSettings


@dataclass(frozen=True)
class LimitPolicy:
    """The kidney limits in force: thresholds (Gy), what crossing each means, and sources."""

    dose_limit_gy: float
    dose_severity: Severity
    bed_limit_risk_gy: float
    bed_limit_no_risk_gy: float
    bed_severity: Severity
    dose_source: str
    bed_source: str

    @property
    def text(self) -> str:
        """'Kidney limits: BED 28/40 Gy exclude; absorbed dose 23 Gy caution'."""
        return (f"Kidney limits: BED {self.bed_limit_risk_gy:g}/{self.bed_limit_no_risk_gy:g} Gy "
                f"{self.bed_severity.value}; absorbed dose {self.dose_limit_gy:g} Gy {self.dose_severity.value}")

    @property
    def description(self) -> str:
        """The policy in words, for a caption or tooltip."""
        def means(severity: Severity) -> str:
            return "makes the patient not eligible" if severity is Severity.EXCLUDE else "is a caution"
        return (f"Crossing the kidney BED limit ({self.bed_limit_risk_gy:g} Gy with renal risk factors, "
                f"{self.bed_limit_no_risk_gy:g} Gy without) {means(self.bed_severity)}; crossing the "
                f"absorbed-dose limit ({self.dose_limit_gy:g} Gy) {means(self.dose_severity)}.")

    def excluding(self) -> tuple[str, ...]:
        """The quantities ('dose', 'bed') whose limit excludes."""
        return tuple(q for q, s in (("bed", self.bed_severity), ("dose", self.dose_severity))
                     if s is Severity.EXCLUDE)

    def severity_of(self, quantity: str) -> Severity:
        """Severity of the 'dose' or 'bed' limit."""
        return {"dose": self.dose_severity, "bed": self.bed_severity}[quantity]


def policy(config: Config, settings: KidneyModelSettings) -> LimitPolicy:
    """The policy in force: the settings' thresholds with the file's severities and sources."""
    return LimitPolicy(settings.dose_limit_gy, config.kidney_dose.severity, settings.bed_limit_risk_gy,
                       settings.bed_limit_no_risk_gy, config.kidney_bed.severity, config.kidney_dose.source,
                       config.kidney_bed.source)


def _bed_basis(row: pd.Series) -> str:
    if not bool(row["renal_risk_known"]):
        return "renal risk not recorded: the stricter limit"
    return "renal risk factors" if bool(row["renal_risk"]) else "no renal risk factors"


def kidney_items(row: pd.Series | None, settings: KidneyModelSettings, config: Config,
                 note: str | None) -> list[Item]:
    """Projected cumulative kidney absorbed dose and BED against their limits (P(> limit) <= tolerance)."""
    tolerance = settings.tolerance
    tol_pct = 100 * tolerance
    specs: tuple[tuple[str, str, Rule, str, str], ...] = (
        ("kidney_dose", "Projected kidney dose", config.kidney_dose, "dose", "absorbed dose"),
        ("kidney_bed", "Projected kidney BED", config.kidney_bed, "bed", "BED"))
    out = []
    for key, label, rule, prefix, what in specs:
        if row is None:
            out.append(Item(key, label, Status.UNKNOWN, "no projection", f"P(> limit) <= {tol_pct:g} %",
                            rule.severity, rule.source, f"{label}: no projection ({note or 'not computed'})"))
            continue
        limit = float(row[f"{prefix}_limit_gy"])
        p = float(row[f"p_exceed_{prefix}"])
        p_pct = 100 * p
        basis = f" ({_bed_basis(row)})" if prefix == "bed" else ""
        threshold = f"P(> {limit:g} Gy{basis}) <= {tol_pct:g} %"
        shown = (f"median {beside_limit(row[f'{prefix}_p50_gy'], limit)} of {limit:g} Gy (90 % interval "
                 f"{beside_limit(row[f'{prefix}_p05_gy'], limit)}-{beside_limit(row[f'{prefix}_p95_gy'], limit)} Gy); "
                 f"P(> {limit:g} Gy) = {beside_limit(p_pct, tol_pct)} %")
        ok = p <= tolerance
        reason = (f"Cumulative kidney {what} exceeds {limit:g} Gy with probability {beside_limit(p_pct, tol_pct)} %"
                  + ("" if ok else f" ({rule.severity.value} limit)"))
        out.append(Item(key, label, Status.PASS if ok else Status.FAIL, shown, threshold, rule.severity,
                        rule.source, reason))
    return out
