"""One mixed model fitted to many outcomes (genes, voxels, items): :func:`fit_many`.

A layer above ``document``: it samples through ``inference`` and draws its figures and
HTML with ``plots``/``document`` conventions (``figures`` and ``html`` import matplotlib,
so they are not imported here).
"""

from hierlmm.many.api import fit_many
from hierlmm.many.result import ManyFits
from hierlmm.many.seeds import outcome_seed

__all__ = ["ManyFits", "fit_many", "outcome_seed"]
