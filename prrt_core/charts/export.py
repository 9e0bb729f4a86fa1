"""Static PNG and SVG of Altair charts with vl-convert-python (no browser needed).

Altair refuses to serialise a DataFrame of more than 5,000 rows unless
``alt.data_transformers.disable_max_rows()`` is active; that switch is global state,
shared with every thread of a Streamlit server (which swaps transformers itself).
Here the chart's DataFrames are instead inlined as plain records
(``alt.utils.data.to_values``: the same sanitising, no row limit), so every row
is exported and no global setting is touched. The conversion may not load anything over
the network (``allowed_base_urls=[]``): every chart's data is inline.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import vl_convert as vlc

# Vega-Lite version of the installed Altair's schema ("v6.4.1" -> "6.4"), which
# vl-convert must bundle.
VEGA_LITE_VERSION = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
_CHILDREN = ("layer", "vconcat", "hconcat", "concat")


def _inline(chart: Any) -> Any:
    """A shallow copy of ``chart`` whose DataFrames (at any depth) are inline records."""
    out = chart.copy(deep=False)
    data = getattr(out, "data", alt.Undefined)
    if isinstance(data, pd.DataFrame):
        out.data = alt.utils.data.to_values(data)
    for name in _CHILDREN:
        children = getattr(out, name, alt.Undefined)
        if children is not alt.Undefined and isinstance(children, list):
            setattr(out, name, [_inline(child) for child in children])
    spec = getattr(out, "spec", alt.Undefined)
    if spec is not alt.Undefined and not isinstance(spec, dict):
        out.spec = _inline(spec)
    return out


def vega_lite_spec(chart: alt.TopLevelMixin) -> dict:
    """The chart's Vega-Lite specification with every data row inline."""
    return _inline(chart).to_dict()


def _check_version() -> str:
    available = vlc.get_vegalite_versions()
    if VEGA_LITE_VERSION not in available:
        raise RuntimeError(f"vl-convert {vlc.__version__ if hasattr(vlc, '__version__') else ''} "
                           f"bundles Vega-Lite {available}, not {VEGA_LITE_VERSION} (Altair "
                           f"{alt.__version__}); install a matching vl-convert-python")
    return VEGA_LITE_VERSION


def png_bytes(chart: alt.TopLevelMixin, *, scale: float = 2.0) -> bytes:
    """PNG image of the chart (``scale`` 2 = double resolution for print)."""
    return vlc.vegalite_to_png(vega_lite_spec(chart), vl_version=_check_version(), scale=scale,
                               allowed_base_urls=[])


def svg_bytes(chart: alt.TopLevelMixin) -> bytes:
    """SVG image of the chart, UTF-8."""
    return vlc.vegalite_to_svg(vega_lite_spec(chart), vl_version=_check_version(),
                               allowed_base_urls=[]).encode("utf-8")
