"""A hierarchy of living things: the modes of Lesson 01 on a semantic data set.

Saxe, McClelland & Ganguli (2019), "A mathematical theory of semantic development in deep neural
networks", PNAS 116(23), train a deep linear network to map *items* to their *features* and find
that its modes are the levels of the items' hierarchy: the first mode is what all items share,
the next ones split the broadest categories, the last ones single items out; and, by the mode
equation of Lesson 01, they are learned in that order, broad distinctions first.

The data set here (eight items, 23 features) is built so that the hierarchy is exact:

* items: canary, robin (birds), salmon, sunfish (fish), oak, pine (trees), rose, daisy
  (flowers); birds and fish are animals, trees and flowers are plants, all are living things;
* every category and every item carries its own features (``FEATURES``), and an item has the
  features of every category it belongs to.

**Inputs, scaling.** Item i is the one-hot input ``x_i = sqrt(P) e_i`` (P = 8 items, each drawn
with probability 1/P), scaled so that the inputs are whitened, ``E[x x^T] = I``, as in Lesson
01, Section 1. Its target is its 0/1 feature vector ``y_i = F[i]`` (F is items x features).
The input-output correlation is then

    ``M = E[y x^T] = F^T / sqrt(P)``            (features x items),

and ``1/2 E ||y - W x||^2 = 1/2 ||W - M||_F^2 + const``: training fits M, and the trained
network maps ``x_i`` to ``M sqrt(P) e_i = F[i]``. (Saxe et al. 2019 feed ``e_i`` unscaled,
where ``E[x x^T] = I/P`` and ``Sigma^{yx} = F^T / P``: the same singular vectors, and the same
dynamics up to a rescaling of the weights and of time.)

**Modes.** ``M^T M = F F^T / P``: the item similarity (shared features), divided by P. The
tree's splits (``SPLITS``) are its eigenvectors exactly when, for every split, each item on
either side has the same *weight*: the sum, over its categories below the split (itself
included), of (items in the category) x (features of the category). The counts in ``FEATURES``
are chosen so: an animal weighs ``4*2 + 2*3 + 1 = 15`` (animals, its bird or fish kind, itself)
and a plant ``4*3 + 2*1 + 1 = 15``; a bird or a fish ``2*3 + 1 = 7``; a tree or a flower
``2*1 + 1 = 3``; an item alone ``1``. These weights, with ``8*2 + 15 = 31`` for all living
things, are ``P s^2``:

    ``s = sqrt((31, 15, 7, 3, 1, 1, 1, 1) / 8) = (1.97, 1.37, 0.94, 0.61, 0.35 x 4)``

for "shared by all living things", "animals vs plants", "birds vs fish", "trees vs flowers"
and the four pairs of items. Five distinct strengths; the last is shared by four modes, each
telling the two items of a pair apart. Birds vs fish is stronger than trees vs flowers because
more features tell birds from fish: the order of learning follows the singular values, which
here, as in Saxe et al.'s hierarchies, fall from the root to the leaves.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from .networks import DeepLinearNetwork
from .random_matrices import make_generator
from .rounding import order_with_ties
from .spread import mean_sd
from .theory._common import first_crossing
from .theory.deep_dynamics import deep_half_way_time
from .threads import small_work
from .validation import check_choice, check_float, check_int, check_positive

ITEMS = ("canary", "robin", "salmon", "sunfish", "oak", "pine", "rose", "daisy")

#: the categories, broadest first, with the items they hold (each splits into two halves)
CATEGORIES = {
    "living things": ITEMS,
    "animals": ITEMS[:4],
    "plants": ITEMS[4:],
    "birds": ITEMS[:2],
    "fish": ITEMS[2:4],
    "trees": ITEMS[4:6],
    "flowers": ITEMS[6:],
}

#: the features each category (or item) carries; an item has those of all its categories
FEATURES = {
    "living things": ("grows", "is alive"),
    "animals": ("moves", "has eyes"),
    "plants": ("has roots", "has leaves", "needs sunlight"),
    "birds": ("flies", "has feathers", "has wings"),
    "fish": ("swims", "has scales", "has gills"),
    "trees": ("has bark",),
    "flowers": ("has petals",),
    "canary": ("is yellow",),
    "robin": ("has a red breast",),
    "salmon": ("is pink",),
    "sunfish": ("is flat",),
    "oak": ("has acorns",),
    "pine": ("has cones",),
    "rose": ("has thorns",),
    "daisy": ("is white",),
}

#: the splits of the tree: (positive side, negative side); "living things" alone is the root
SPLITS = (
    ("living things", None),
    ("animals", "plants"),
    ("birds", "fish"),
    ("trees", "flowers"),
    ("canary", "robin"),
    ("salmon", "sunfish"),
    ("oak", "pine"),
    ("rose", "daisy"),
)

INITS = ("random", "aligned")


def _members(name: str) -> tuple[str, ...]:
    return CATEGORIES.get(name, (name,))


def feature_names() -> list[str]:
    """All features, category by category (as listed in ``FEATURES``)."""
    return [feature for group in FEATURES.values() for feature in group]


def feature_matrix() -> torch.Tensor:
    """F (items x features, float64): ``F[i, j] = 1`` when item i has feature j."""
    names = feature_names()
    matrix = torch.zeros(len(ITEMS), len(names), dtype=torch.float64)
    for owner, features in FEATURES.items():
        for item in _members(owner):
            for feature in features:
                matrix[ITEMS.index(item), names.index(feature)] = 1.0
    return matrix


def split_vector(positive: str, negative: str | None = None) -> torch.Tensor:
    """Unit vector over the items: ``+`` on ``positive``'s items, ``-`` on ``negative``'s."""
    vector = torch.zeros(len(ITEMS), dtype=torch.float64)
    for item in _members(positive):
        vector[ITEMS.index(item)] = 1.0
    if negative is not None:
        for item in _members(negative):
            vector[ITEMS.index(item)] = -1.0
    return vector / torch.linalg.vector_norm(vector)


@dataclass
class SemanticData:
    """The data set and its modes, strongest first.

    ``target`` is ``M = F^T / sqrt(P)`` (features x items); ``M = left diag(s) right^T`` with
    ``right[:, k]`` the k-th split of the tree over the items and ``left[:, k] = M right[:, k]
    / s_k`` the features that go with it; ``meanings[k]`` names the split.
    """

    items: tuple[str, ...]
    features: list[str]
    feature_matrix: torch.Tensor
    target: torch.Tensor
    singular_values: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor
    meanings: list[str]


def semantic_data() -> SemanticData:
    """The items, features, ``M = F^T / sqrt(P)`` and its modes (the tree's splits).

    The modes are an exact SVD of M (checked here: ``M^T u_k = s_k v_k`` and ``M v_k = s_k
    u_k``); in the group of four equal singular values any basis is a valid SVD, and the one
    chosen is the pairs of items, so each mode has a meaning. The modes come strongest first,
    equal singular values in the tree's order (``SPLITS``): they are equal only up to rounding,
    which a plain sort would let decide (``rounding.order_with_ties``).
    """
    features = feature_matrix()
    target = features.T / math.sqrt(len(ITEMS))
    right = torch.stack([split_vector(*split) for split in SPLITS], dim=1)
    images = target @ right
    values = torch.linalg.vector_norm(images, dim=0)
    left = images / values
    if not torch.allclose(target.T @ left, right * values, atol=1e-12):
        raise RuntimeError("FEATURES no longer make the tree's splits singular vectors of M")
    order = order_with_ties(values, descending=True)
    right = right[:, order]
    return SemanticData(
        items=ITEMS,
        features=feature_names(),
        feature_matrix=features,
        target=target,
        singular_values=values[order],
        left=left[:, order],
        right=right,
        meanings=[split_meaning(right[:, k]) for k in range(right.shape[1])],
    )


def split_meaning(vector, tolerance: float = 1e-6) -> str:
    """Name a vector over the items by how it splits them.

    Entries above ``tolerance * max|v|`` are read by sign (the overall sign of a singular pair
    is arbitrary: the side holding the first item named is called positive). One sign only:
    ``"shared by all <category>"``; both: ``"<positive side> vs <negative side>"``, each side
    named by its category when it is one (``"animals vs plants"``), else by its items.
    """
    values = torch.as_tensor(vector, dtype=torch.float64).flatten()
    if values.numel() != len(ITEMS):
        raise ValueError(
            f"vector must have {len(ITEMS)} entries (one per item), got {values.numel()}"
        )
    scale = float(values.abs().max())
    if scale == 0.0:
        raise ValueError("vector must not be zero")
    present = values.abs() > tolerance * scale
    first = int(torch.nonzero(present)[0, 0])
    signed = values * torch.sign(values[first])
    positive = tuple(
        item for item, v, on in zip(ITEMS, signed, present, strict=True) if on and v > 0
    )
    negative = tuple(
        item for item, v, on in zip(ITEMS, signed, present, strict=True) if on and v < 0
    )
    if not negative:
        return f"shared by all {_side_name(positive)}"
    return f"{_side_name(positive)} vs {_side_name(negative)}"


def _side_name(items: tuple[str, ...]) -> str:
    for category, members in CATEGORIES.items():
        if tuple(members) == items:
            return category
    return " + ".join(items)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


@dataclass
class SemanticRun:
    """Mode strengths ``u_k(t) = left_k^T W_{L:1}(t) right_k`` of one run (rows: steps 0..T)."""

    strengths: torch.Tensor
    singular_values: torch.Tensor
    depth: int
    lr: float
    init_scale: float
    init: str
    seed: int

    @property
    def fractions(self) -> torch.Tensor:
        """``u_k(t) / s_k``: how much of each mode has been learned."""
        return self.strengths / self.singular_values

    def half_way_steps(self) -> list[int | None]:
        """First step at which each mode reaches ``s_k / 2`` (None: not within the run)."""
        return [first_crossing(column, 0.5) for column in self.fractions.T]


def initial_layers(
    data: SemanticData, depth: int, init_scale: float, hidden: int, init: str, seed: int
) -> list[torch.Tensor]:
    """``[W_1, ..., W_L]``: items -> hidden -> ... -> features.

    ``init='random'``: independent Gaussian entries with variance ``init_scale^2 / fan_in``
    (the usual fan-in scaling, times init_scale), from ``seed``. ``init='aligned'``:
    ``W_1 = a [V^T; 0]``, ``W_l = a I``, ``W_L = a [U, 0]`` with ``a = init_scale``, so
    ``W_{L:1}(0) = a^L U V^T``: every mode starts at ``a^L`` and follows the mode equation of
    Lesson 01 (depth 2) or Lesson 02.
    """
    n_items, n_features = len(data.items), len(data.features)
    widths = [n_items] + [hidden] * (depth - 1) + [n_features]
    if init == "random":
        generator = make_generator(seed)
        return [
            init_scale
            * torch.randn(rows, cols, generator=generator, dtype=torch.float64)
            / math.sqrt(cols)
            for cols, rows in itertools.pairwise(widths)
        ]
    k = data.right.shape[1]
    first = torch.zeros(hidden, n_items, dtype=torch.float64)
    first[:k] = data.right.T
    last = torch.zeros(n_features, hidden, dtype=torch.float64)
    last[:, :k] = data.left
    middle = [torch.eye(hidden, dtype=torch.float64) for _ in range(depth - 2)]
    return [init_scale * layer for layer in (first, *middle, last)]


@small_work()  # 8 x 64 layers: a loop of small products
def train_semantic(
    depth: int = 2,
    *,
    init_scale: float = 0.1,
    lr: float = 0.05,
    steps: int = 1000,
    hidden: int = 64,
    init: str = "random",
    seed: int = 0,
    data: SemanticData | None = None,
) -> SemanticRun:
    """Gradient descent on ``1/2 ||W_L ... W_1 - M||_F^2`` with M the semantic data's target.

    A deep linear network (``networks.DeepLinearNetwork``, every layer stepping from the same
    old weights with step ``lr``) of ``depth`` layers, ``hidden`` units per hidden layer, from
    :func:`initial_layers`. Records every mode's strength at every step.
    """
    data = semantic_data() if data is None else data
    depth = check_int("depth", depth, low=2, high=6)
    init_scale = check_float("init_scale", init_scale, low=0.0, high=1.0, low_open=True)
    lr = check_positive("lr", lr)
    steps = check_int("steps", steps, low=0, high=100_000)
    hidden = check_int("hidden", hidden, low=len(data.items))
    check_choice("init", init, INITS)
    seed = check_int("seed", seed, low=0)
    network = DeepLinearNetwork(initial_layers(data, depth, init_scale, hidden, init, seed))
    rates = [lr] * depth
    strengths = torch.empty(steps + 1, data.singular_values.numel(), dtype=torch.float64)
    for step in range(steps + 1):
        prefix = network.prefix_products()
        end_to_end = prefix[-1]
        strengths[step] = (data.left * (end_to_end @ data.right)).sum(0)
        if step == steps:
            break
        network.descend(prefix, end_to_end - data.target, rates)
        if not torch.isfinite(network.layers[-1]).all():
            raise ValueError(
                f"training diverged at step {step} (lr={lr:g} at depth {depth}): lower lr"
            )
    return SemanticRun(strengths, data.singular_values, depth, lr, init_scale, init, seed)


def aligned_half_way_times(data: SemanticData, depth: int, init_scale: float, lr: float):
    """The closed-form half-way step of every mode from the aligned init ``u0 = a^L``.

    Lesson 01's ``(tau / 2s) ln(s/u0 - 1)`` at depth 2, the deep mode equation (Lesson 02)
    otherwise; ``tau = 1/lr``. A mode that starts at or above ``s/2`` gives 0.
    """
    u0 = init_scale**depth
    return [
        deep_half_way_time(float(s), u0, depth, lr) if u0 < s / 2 else 0.0
        for s in data.singular_values
    ]


def run_length(
    data: SemanticData, depth: int, init_scale: float, lr: float, factor=2.0, minimum=50
) -> int:
    """Steps to simulate: ``factor`` times the weakest mode's aligned half-way time (>= minimum)."""
    longest = max(aligned_half_way_times(data, depth, init_scale, lr))
    return max(minimum, math.ceil(factor * longest))


def half_way_statistics(runs: list[SemanticRun]) -> list[tuple[float, float] | None]:
    """Per mode, the mean and sd of the half-way step over ``runs``; None if a run missed it."""
    per_run = [run.half_way_steps() for run in runs]
    stats = []
    for k in range(len(per_run[0])):
        values = [steps[k] for steps in per_run]
        stats.append(None if any(v is None for v in values) else mean_sd(values))
    return stats


def learned_in_order(run: SemanticRun, tolerance: float = 1e-9) -> bool:
    """Whether every mode is half learned no later than every weaker mode (ties in s exempt)."""
    steps = run.half_way_steps()
    values = run.singular_values
    for i in range(len(steps)):
        for j in range(len(steps)):
            if values[i] > values[j] + tolerance:
                if steps[i] is None or (steps[j] is not None and steps[i] > steps[j]):
                    return False
    return True


def stage_widths(run: SemanticRun, low: float = 0.1, high: float = 0.9) -> list[float | None]:
    """Per mode, how sharp its stage is: ``(t_high - t_low) / t_half``.

    ``t_q`` is the first step at which the mode reaches the fraction ``q`` of its singular value.
    Near 1, the mode rises over a time as long as it waited (a soft, two-layer sigmoid); near 0,
    it jumps after a long plateau (a sharp stage, as deeper networks have: Saxe et al. 2014;
    Lesson 02). None where the run ends before the mode reaches ``high``.
    """
    low = check_float("low", low, low=0.0, high=0.5, low_open=True, high_open=True)
    high = check_float("high", high, low=0.5, high=1.0, low_open=True, high_open=True)
    widths = []
    for column in run.fractions.T:
        first_low, half, first_high = (first_crossing(column, q) for q in (low, 0.5, high))
        if first_high is None or not half:  # not reached in the run (the others come earlier)
            widths.append(None)
            continue
        widths.append((first_high - first_low) / half)
    return widths
