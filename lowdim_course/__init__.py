"""lowdim-course: low-dimensional learning dynamics and width compression of deep linear networks.

Data flows one way: a problem (``problems``) -> a network (``networks``) -> training
(``training``) -> a ``History`` -> analysis (``theory``) and figures (``plots``).
"""

from .divergence import DivergenceError
from .history import History
from .networks import (
    DeepLinearNetwork,
    compressed_network,
    compressed_param_count,
    original_network,
    original_param_count,
    spectral_init,
)
from .problems import (
    MatrixCompletion,
    MatrixFactorization,
    MatrixSensing,
    make_problem,
    spread_spectrum_target,
)
from .rounding import perturb_from_environment
from .training import layer_learning_rates, train

# LOWDIM_COURSE_PERTURB_ROUNDING=1e-12 imitates another processor's rounding (rounding.py)
perturb_from_environment()

__version__ = "0.1.0"

__all__ = [
    "DeepLinearNetwork",
    "DivergenceError",
    "History",
    "MatrixCompletion",
    "MatrixFactorization",
    "MatrixSensing",
    "compressed_network",
    "compressed_param_count",
    "layer_learning_rates",
    "make_problem",
    "original_network",
    "original_param_count",
    "spectral_init",
    "spread_spectrum_target",
    "train",
]
