"""Theory toolkit: closed-form dynamics, incremental learning, the invariant subspace, ranks.

Every formula here is checked against gradient descent or an independent computation in
``tests/test_theory_*.py``. Time is counted in gradient steps, with ``tau = 1/lr``.
"""

from ._common import ModeTrajectory
from .deep_dynamics import (
    deep_half_way_time,
    deep_mode_rhs,
    half_way_iteration,
    identity_init_spectra,
    integrate_deep_mode,
    onset_time,
    separation,
    simulate_deep_modes,
    singular_value_velocity,
    time_to_fraction,
)
from .invariant_subspace import (
    ScalarModes,
    SubspaceReport,
    count_singular_values_at,
    estimate_rho,
    invariant_subspace_report,
    measure_layer,
    mode_step_stability,
    moved_part,
    moved_rank,
    principal_angles,
    rho_trajectory,
    scalar_mode_trajectory,
)
from .rank_measures import (
    effective_rank,
    effective_rank_of_spectrum,
    effective_rank_over_training,
    numerical_rank,
    stable_rank,
    stable_rank_over_training,
)
from .two_layer import half_way_time, learning_time, saxe_trajectory, simulate_two_layer

__all__ = [
    "ModeTrajectory",
    "ScalarModes",
    "SubspaceReport",
    "count_singular_values_at",
    "deep_half_way_time",
    "deep_mode_rhs",
    "effective_rank",
    "effective_rank_of_spectrum",
    "effective_rank_over_training",
    "estimate_rho",
    "half_way_iteration",
    "half_way_time",
    "identity_init_spectra",
    "integrate_deep_mode",
    "invariant_subspace_report",
    "learning_time",
    "measure_layer",
    "mode_step_stability",
    "moved_part",
    "moved_rank",
    "numerical_rank",
    "onset_time",
    "principal_angles",
    "rho_trajectory",
    "saxe_trajectory",
    "scalar_mode_trajectory",
    "separation",
    "simulate_deep_modes",
    "simulate_two_layer",
    "singular_value_velocity",
    "stable_rank",
    "stable_rank_over_training",
    "time_to_fraction",
]
