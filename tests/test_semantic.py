"""The semantic data set (Saxe, McClelland & Ganguli 2019): its modes and the order of learning."""

import math

import pytest
import torch

from lowdim_course import semantic
from lowdim_course.semantic import (
    CATEGORIES,
    ITEMS,
    aligned_half_way_times,
    feature_matrix,
    half_way_statistics,
    learned_in_order,
    semantic_data,
    split_meaning,
    train_semantic,
)

MEANINGS = [
    "shared by all living things",
    "animals vs plants",
    "birds vs fish",
    "trees vs flowers",
    "canary vs robin",
    "salmon vs sunfish",
    "oak vs pine",
    "rose vs daisy",
]


@pytest.fixture(scope="module")
def data():
    return semantic_data()


def _signs(vector):
    return [int(v) for v in torch.sign(vector.round(decimals=12))]


def test_items_have_the_features_of_all_their_categories():
    F = feature_matrix()
    names = semantic.feature_names()
    canary = {names[j] for j in torch.nonzero(F[ITEMS.index("canary")]).flatten()}
    assert canary == {"grows", "is alive", "moves", "has eyes", "flies", "has feathers",
                      "has wings", "is yellow"}  # fmt: skip
    assert F.shape == (8, 23) and set(F.unique().tolist()) == {0.0, 1.0}
    # the hierarchy is exact: two items share exactly the features of their common categories
    assert float(F[0] @ F[1]) == 7  # canary, robin: living (2) + animal (2) + bird (3)
    assert float(F[0] @ F[2]) == 4  # canary, salmon: living + animal
    assert float(F[0] @ F[4]) == 2  # canary, oak: living only


def test_target_is_features_transposed_over_root_p(data):
    assert torch.equal(data.target, data.feature_matrix.T / math.sqrt(8))


def test_modes_are_an_exact_svd_with_the_documented_strengths(data):
    expected = torch.sqrt(torch.tensor([31.0, 15, 7, 3, 1, 1, 1, 1], dtype=torch.float64) / 8)
    assert torch.allclose(data.singular_values, expected, atol=1e-12)
    assert torch.allclose(torch.linalg.svdvals(data.target), expected, atol=1e-12)
    rebuilt = data.left @ torch.diag(data.singular_values) @ data.right.T
    assert torch.allclose(rebuilt, data.target, atol=1e-12)
    eye = torch.eye(8, dtype=torch.float64)
    assert torch.allclose(data.right.T @ data.right, eye, atol=1e-12)
    assert torch.allclose(data.left.T @ data.left, eye, atol=1e-12)


def test_modes_mean_what_the_docstring_says(data):
    assert data.meanings == MEANINGS
    v = data.right
    assert len(set(_signs(v[:, 0]))) == 1  # one sign on every item
    animals = _signs(v[:4, 1])
    plants = _signs(v[4:, 1])
    assert len(set(animals)) == 1 and len(set(plants)) == 1 and animals[0] == -plants[0]
    assert _signs(v[:, 2]) == [1, 1, -1, -1, 0, 0, 0, 0]  # birds vs fish, nothing on plants
    assert _signs(v[:, 3]) == [0, 0, 0, 0, 1, 1, -1, -1]  # trees vs flowers
    assert _signs(v[:, 4]) == [1, -1, 0, 0, 0, 0, 0, 0]  # canary vs robin


def test_the_svd_of_m_names_the_distinct_modes_the_same_way(data):
    _, _, vh = torch.linalg.svd(data.target, full_matrices=False)
    assert [split_meaning(vh[k]) for k in range(4)] == MEANINGS[:4]
    assert split_meaning(-vh[1]) == "animals vs plants"  # the sign of a pair is arbitrary


def test_mode_two_sends_animal_features_one_way_and_plant_features_the_other(data):
    names = data.features
    u = data.left[:, 1] * torch.sign(data.right[0, 1])
    assert u[names.index("moves")] > 0 and u[names.index("has roots")] < 0
    assert abs(float(u[names.index("grows")])) < 1e-12


def test_split_meaning_names_other_splits_by_their_items():
    vector = torch.tensor([1.0, 0, -1.0, 0, 0, 0, 0, 0])
    assert split_meaning(vector) == "canary vs salmon"
    assert split_meaning(torch.tensor([0, 0, 0, 0, 2.0, 2, 2, 2])) == "shared by all plants"
    mixed = torch.tensor([1.0, 1, 1, 1, 1, 1, -1, -1])
    assert split_meaning(mixed) == "canary + robin + salmon + sunfish + oak + pine vs flowers"
    with pytest.raises(ValueError, match="8 entries"):
        split_meaning(torch.ones(5))
    with pytest.raises(ValueError, match="not be zero"):
        split_meaning(torch.zeros(8))


def test_categories_cover_the_tree():
    assert CATEGORIES["animals"] + CATEGORIES["plants"] == ITEMS


@pytest.mark.parametrize(("depth", "steps"), [(2, 250), (3, 1000)])
def test_modes_are_learned_in_the_order_of_their_singular_values(data, depth, steps):
    runs = [
        train_semantic(depth, init_scale=0.1, lr=0.05, steps=steps, seed=seed, data=data)
        for seed in range(5)
    ]
    assert all(learned_in_order(run) for run in runs)
    means = [mean for mean, _ in half_way_statistics(runs)]
    assert means[0] < means[1] < means[2] < means[3] < min(means[4:])


@pytest.mark.parametrize("depth", [2, 3])
def test_aligned_gradient_descent_agrees_with_the_closed_form_half_way_time(data, depth):
    lr = 0.01
    closed = aligned_half_way_times(data, depth, 0.1, lr)
    run = train_semantic(depth, init_scale=0.1, lr=lr, steps=math.ceil(1.2 * max(closed)),
                         init="aligned", data=data)  # fmt: skip
    for measured, predicted in zip(run.half_way_steps(), closed, strict=True):
        assert abs(measured - predicted) <= 0.01 * predicted + 2


def test_aligned_start_puts_every_mode_at_a_to_the_l(data):
    run = train_semantic(3, init_scale=0.2, lr=0.01, steps=0, init="aligned", data=data)
    assert torch.allclose(run.strengths[0], torch.full((8,), 0.2**3, dtype=torch.float64))


def test_a_large_init_loses_the_order(data):
    runs = [train_semantic(2, init_scale=0.5, lr=0.05, steps=50, seed=s, data=data)
            for s in range(5)]  # fmt: skip
    assert not any(learned_in_order(run) for run in runs)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="depth"):
        train_semantic(1)
    with pytest.raises(ValueError, match="init_scale"):
        train_semantic(2, init_scale=0.0)
    with pytest.raises(ValueError, match="init"):
        train_semantic(2, init="orthogonal")
    with pytest.raises(ValueError, match="hidden"):
        train_semantic(2, hidden=4)
    with pytest.raises(ValueError, match="lower lr"):
        train_semantic(4, init_scale=0.5, lr=3.0, steps=200)


def test_half_way_statistics_marks_a_mode_not_reached(data):
    runs = [train_semantic(2, init_scale=0.1, lr=0.05, steps=40, seed=s, data=data)
            for s in range(2)]  # fmt: skip
    stats = half_way_statistics(runs)
    assert stats[0] is not None and stats[-1] is None


def test_stage_widths_measure_a_sigmoid_and_mark_a_mode_not_reached():
    # a logistic curve u/s = 1 / (1 + e^{-(t - 100)/10}): t_0.1, t_0.5, t_0.9 = 100 -+ 10 ln 9
    times = torch.arange(301, dtype=torch.float64)
    rising = 1 / (1 + torch.exp(-(times - 100) / 10))
    run = semantic.SemanticRun(
        torch.stack([rising, 0.3 * torch.ones(301)], dim=1),
        torch.tensor([1.0, 1.0], dtype=torch.float64),
        depth=2, lr=0.1, init_scale=0.1, init="random", seed=0,
    )  # fmt: skip
    width, never = semantic.stage_widths(run)
    assert width == pytest.approx(2 * 10 * math.log(9) / 100, abs=0.02)  # steps are whole
    assert never is None
    with pytest.raises(ValueError, match="low"):
        semantic.stage_widths(run, low=0.6)


def test_depth_sharpens_the_stages_of_the_semantic_data(data):
    # the claim of Lesson 02, Section 6: relative stage width falls with depth, in every seed
    widths = {}
    for depth in (2, 3):
        steps = semantic.run_length(data, depth, 0.1, 0.05)
        runs = [
            semantic.train_semantic(depth, init_scale=0.1, lr=0.05, steps=steps, seed=seed)
            for seed in range(3)
        ]
        widths[depth] = [semantic.stage_widths(run)[:4] for run in runs]
    for shallow, deep in zip(widths[2], widths[3], strict=True):
        assert all(w2 > 0.8 for w2 in shallow)  # soft: the rise lasts about as long as the wait
        assert all(w3 < 0.5 * w2 for w2, w3 in zip(shallow, deep, strict=True))


@pytest.mark.parametrize("seed", range(4))
def test_equal_singular_values_keep_the_trees_order_whatever_the_rounding(seed):
    """The four item modes tie exactly; rounding must not decide their order (it did: a 1e-12
    perturbation of the norms put "oak vs pine" fifth instead of "canary vs robin")."""
    from lowdim_course.rounding import RoundingPerturbation

    with RoundingPerturbation(seed=seed) as mode:
        perturbed = semantic_data()
    assert mode.count > 0
    assert perturbed.meanings == MEANINGS
