"""A deep linear block inside a nonlinear network, full or compressed (Kwon et al. 2024, Sec. 5).

Three classifiers on scikit-learn's handwritten digits (8 x 8 images, 64 features, 10 classes,
1,797 samples shipped inside the package: nothing is downloaded):

* ``"mlp"`` (the paper's *Original*): ``x -> ReLU(A_k ... ReLU(A_1 x)) = phi(x) in R^w ->
  logits = C phi(x) + c``, ``k = hidden_layers`` ReLU layers of width ``w``;
* ``"dln"`` (*Original + DLN*): the same network with an overparameterized **deep linear block**
  of L bias-free ``w x w`` layers inserted before the output layer,
  ``logits = C W_L ... W_1 phi(x) + c``, initialized like the course's original DLN,
  ``W_l(0) = eps O_l`` with ``O_l`` Haar orthogonal;
* ``"cdln"`` (*Original + C-DLN*): the block compressed to width ``r_hat``:
  ``W_1`` is ``r_hat x w``, ``L - 2`` middle layers ``r_hat x r_hat``, ``W_L`` is ``w x r_hat``,
  so the block has ``2 w r_hat + (L-2) r_hat^2`` parameters instead of ``L w^2``.

**How the compressed block is initialized.** The spectral initialization of
:func:`lowdim_course.networks.spectral_init` needs a surrogate matrix whose top singular vectors
point where the block's end-to-end map ``B = W_{L:1}`` will learn. For the three recovery tasks
of the course the surrogates (``M*``, ``P_Omega(M*)/p``, ``(1/m) sum_i y_i A_i``) are all
proportional to **minus the gradient of the training loss with respect to the end-to-end matrix
at zero**, ``-grad_W l(0)``. The nonlinear block uses the same definition: with every other layer
at its (shared, seeded) initialization and ``B = 0``,

    ``S = -d l / d B |_{B=0} = C^T (Y - P)^T Phi / n``

for the mean cross-entropy ``l`` over the n training samples, ``Phi`` (n x w) the features
``phi(x_i)``, ``Y`` the one-hot labels and ``P = softmax(c)`` the predictions at ``B = 0``
(:func:`block_surrogate`). ``S`` is the direction the first gradient step would move ``B``; its
rank is at most ``K - 1 = 9`` (K classes). Then ``W_1 = eps V_hat^T``, ``W_l = eps I``,
``W_L = eps U_hat`` from ``S = U Sigma V^T``. This costs one forward pass over the training set
and one SVD, and that time is counted in the compressed model's seconds.

**Learning rates.** Every layer outside the block steps with ``lr``; inside the block the
discrepant learning rate (:func:`block_learning_rates`, as optimizer parameter groups by
:func:`block_parameter_groups`): by default (``alpha_layers="first"``) the block's first layer
steps with ``alpha * lr`` and the others with ``lr``, as Kwon et al. describe their nonlinear
experiment; ``alpha_layers="ends"`` puts ``alpha`` on the first *and last* layer, as in their
matrix experiments. ``alpha`` is applied to the compressed block only; the full-width block uses
``alpha = 1`` as in the paper's original.

**What differs from the paper's FashionMNIST experiment** (Sec. 5: test accuracy about 0.902 at
about 260 s for Original + DLN, 1,250 iterations; about 0.901 at about 115 s compressed; plain MLP
about 0.89): the data set (digits: 1,797 samples of 64 features instead of 70,000 of 784, so it
fits a laptop and needs no download), the sizes (one hidden ReLU layer of width w = 128 in the
lesson, 512 in ``reproduce``, not the paper's network), the optimizer (full-batch Adam, lr 1e-3,
with a fixed seed by default; plain gradient descent and mini-batches are options), the number of
iterations (100 or 200, not 1,250), float64 on the CPU (float32 on a GPU), the discrepant rate
(alpha = 3 on the block's first layer, the value chosen by a measured sweep), and the
initialization of the compressed block (the gradient surrogate above; the paper does not spell
its construction out for this experiment).

The package's modules, one job each: ``settings`` (the models and their defaults), ``data``
(the digits), ``model`` (the three classifiers and the compressed block's initialization),
``trainer`` (the training loop and the discrepant rate), ``experiment`` (the run, the claim,
the figure and files).

Lesson 12's modules (imported by their own names, not re-exported here): ``small_models``
(an MLP and a 1-D CNN for MNIST-1D, a layer's weight as a matrix), ``update_training``
(training that records each layer's update ``W_t - W_0``), ``update_geometry`` (stable rank,
numerical rank, energy share, principal angles, settling step, captured share of an update),
``restricted_training`` (training on in ``W_t0 + U_k C V_k^T``) and ``update_sweep`` (the
measures over seeds and settings).
"""

from .data import (
    ClassificationData,
    Digits,
    load_digits_data,
)
from .experiment import (
    build_models,
    claim_check,
    plot_accuracy,
    reproduce_nonlinear,
    run_nonlinear,
    summarize,
)
from .mnist1d import STANDARD_DATA_SEED, load_mnist1d_data
from .model import (
    BlockMLP,
    block_surrogate,
    build_model,
    cdln_block_param_count,
    compressed_block_layers,
    dln_block_param_count,
)
from .settings import (
    ALPHA_LAYERS,
    CLAIM_POINTS,
    CLAIM_SPEEDUP,
    DEFAULTS,
    KINDS,
    LABELS,
    OPTIMIZERS,
    REPRODUCE_SETTINGS,
)
from .trainer import (
    ClassifierHistory,
    block_learning_rates,
    block_parameter_groups,
    percent_correct,
    test_accuracy,
    train_block_on_features,
    train_models,
)

__all__ = [
    "ALPHA_LAYERS",
    "CLAIM_POINTS",
    "CLAIM_SPEEDUP",
    "DEFAULTS",
    "KINDS",
    "LABELS",
    "OPTIMIZERS",
    "REPRODUCE_SETTINGS",
    "STANDARD_DATA_SEED",
    "BlockMLP",
    "ClassificationData",
    "ClassifierHistory",
    "Digits",
    "block_learning_rates",
    "block_parameter_groups",
    "block_surrogate",
    "build_model",
    "build_models",
    "cdln_block_param_count",
    "claim_check",
    "compressed_block_layers",
    "dln_block_param_count",
    "load_digits_data",
    "load_mnist1d_data",
    "percent_correct",
    "plot_accuracy",
    "reproduce_nonlinear",
    "run_nonlinear",
    "summarize",
    "test_accuracy",
    "train_block_on_features",
    "train_models",
]
