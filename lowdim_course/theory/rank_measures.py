"""The rank measures, as the theory package names them: see :mod:`lowdim_course.rank_measures`.

They live in the package's lowest layer so that ``problems`` can use ``numerical_rank`` without
importing the theory package.
"""

from ..rank_measures import (
    effective_rank,
    effective_rank_of_spectrum,
    effective_rank_over_training,
    numerical_rank,
    stable_rank,
    stable_rank_over_training,
)

__all__ = [
    "effective_rank",
    "effective_rank_of_spectrum",
    "effective_rank_over_training",
    "numerical_rank",
    "stable_rank",
    "stable_rank_over_training",
]
