"""What a page shows, as dataclasses and tables; import the submodules.

``patient`` (one patient's review), ``labs`` (lab values, CTCAE grade bands, MAG3 trend),
``outcome`` (worst grades, best response, PFS and OS), ``planner`` (salvage scenarios),
``format`` (the text, display tables and status tones shared by pages and the summary),
``dosimetry`` (voxel dosimetry).
"""
