"""What a page shows, as dataclasses and tables: patient review, salvage planner, dosimetry, report."""
from prrt_core.views.patient_view import *  # noqa: F401,F403  (split in progress)
from prrt_core.views.patient_view import _limit_status  # noqa: F401

del dosimetry  # noqa: F821  (the star import above bound prrt_core.dosimetry here)
