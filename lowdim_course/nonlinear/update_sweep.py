"""The measures of :mod:`update_geometry` over seeds and settings: the numbers behind Lesson 12.

:func:`describe_run` summarizes one :class:`update_training.UpdateRun` layer by layer;
:func:`sweep_setting` trains one setting (architecture, optimizer, learning rate, width, depth,
initial scale) over several seeds and returns each measure's mean and sample standard
deviation; :func:`update_sweep` does that for a list of settings; :func:`gaussian_reference`
gives the same measures for Gaussian matrices of a layer's shape (what an update with no
preferred directions would show); :func:`restricted_comparison` compares full training with
training restricted to the learned top-k subspaces and to random ones
(:mod:`restricted_training`), over seeds.

Seed s draws both the network (``build_small_model(seed=s)``) and the batch order
(``BatchStream(seed=s)``); the data set is MNIST-1D's standard one (``load_mnist1d_data()``).
"""

from __future__ import annotations

import functools

import torch

from ..random_matrices import make_generator
from ..spread import mean_sd
from ..validation import check_int
from .mnist1d import load_mnist1d_data
from .restricted_training import (
    restrict_model,
    step_seconds_side_by_side,
    subspace_bases,
    train_restricted,
)
from .small_models import build_small_model, weight_matrices
from .update_geometry import (
    SETTLE_ANGLE,
    UPDATE_RTOL,
    captured_share,
    energy_share,
    rank_for_energy,
    settling_step,
    spectral_gap,
    stable_rank,
    subspace_angles,
    update_rank,
)
from .update_training import BatchStream, model_accuracy, train_recording_updates

DEFAULT_SETTING = {
    "architecture": "mlp",
    "optimizer": "adam",
    "lr": 1e-2,
    "width": 100,
    "depth": 2,
    "init_scale": 1.0,
    "steps": 600,
    "batch_size": 100,
}
SEEDS = (0, 1, 2, 3, 4)
TOP_K = 5  # the subspace dimension the lesson measures by default
ENERGY = 0.9  # rank_for_energy's target share
RECORD_EVERY = 50
T0 = 200  # restricted training starts after this many full steps
MEASURES = ("stable_rank", "rank", "top_k_share", "rank_for_energy", "settle_left",
            "settle_right", "gap", "captured_early")  # fmt: skip


def _setting(**overrides) -> dict:
    unknown = set(overrides) - set(DEFAULT_SETTING)
    if unknown:
        raise ValueError(
            f"setting names must be among {', '.join(DEFAULT_SETTING)}, got {sorted(unknown)}"
        )
    return DEFAULT_SETTING | overrides


def describe_run(run, k: int = TOP_K, share: float = ENERGY, threshold: float = SETTLE_ANGLE):
    """Per layer of ``run``: the measures of its final update and how its top-k subspaces settle.

    Returns ``{name: {"stable_rank", "rank" (at UPDATE_RTOL), "top_k_share", "rank_for_energy"
    (smallest k holding ``share``), "gap" (s_{k+1}/s_k), "angles_left", "angles_right" (largest
    principal angle at each recorded step against the end), "settle_left", "settle_right"
    (settling steps; the last step when the subspace only settles at the end), "captured"
    (captured_share of the final update in the top-k subspaces of each recorded step),
    "captured_early" (that share at the recorded step nearest T0 = 200, where restricted
    training starts)}}``; k is capped at each matrix's smaller side.
    """
    k = check_int("k", k, low=1)
    result = {}
    for name in run.layer_names:
        final = run.final_update(name)
        kk = min(k, *final.shape)
        # one SVD per recorded update: its top-k bases serve the angles and the captured share
        bases = [_top_bases(delta, kk) for delta in run.updates[name]]
        end_left, end_right = bases[-1]
        angles = {
            "left": [float(subspace_angles(u, end_left).max()) for u, _ in bases],
            "right": [float(subspace_angles(v, end_right).max()) for _, v in bases],
        }
        captured = [captured_share(final, u, v) for u, v in bases]
        result[name] = {
            "shape": tuple(final.shape),
            "stable_rank": stable_rank(final),
            "rank": update_rank(final, UPDATE_RTOL),
            "top_k_share": energy_share(final, kk),
            "rank_for_energy": rank_for_energy(final, share),
            "gap": spectral_gap(final, kk),
            "angles_left": angles["left"],
            "angles_right": angles["right"],
            "settle_left": settling_step(run.steps, angles["left"], threshold),
            "settle_right": settling_step(run.steps, angles["right"], threshold),
            "captured": captured,
            "captured_early": captured[_early_index(run.steps, T0)],
        }
    return result


def _top_bases(delta, k):
    u, _, vh = torch.linalg.svd(delta, full_matrices=False)
    return u[:, :k], vh[:k].mT


def _early_index(steps, early: int) -> int:
    """The index of the recorded step nearest ``early`` (the first of two equally near)."""
    return min(range(len(steps)), key=lambda j: abs(steps[j] - early))


def _built_model(setting: dict, seed: int):
    """The setting's model at its seeded initialization."""
    return build_small_model(
        setting["architecture"],
        width=setting["width"],
        depth=setting["depth"],
        init_scale=setting["init_scale"],
        seed=seed,
    )


@functools.lru_cache(maxsize=64)
def _one_run(setting: tuple, seed: int, record_every: int, keep_state_at):
    setting = dict(setting)
    model = _built_model(setting, seed)
    return train_recording_updates(
        model,
        load_mnist1d_data(),
        optimizer=setting["optimizer"],
        lr=setting["lr"],
        steps=setting["steps"],
        batch_size=setting["batch_size"],
        seed=seed,
        record_every=min(record_every, setting["steps"]),
        keep_state_at=keep_state_at,
    )


def trained_run(seed: int = 0, record_every: int = RECORD_EVERY, keep_state_at=T0, **overrides):
    """The :class:`UpdateRun` of one setting and seed (cached per process: do not modify it).

    The parameters after ``keep_state_at`` steps (default T0 = 200, what
    :func:`restricted_comparison` resumes from) are kept when the run is longer than that.
    """
    setting = _setting(**overrides)
    if keep_state_at is not None and keep_state_at >= setting["steps"]:
        keep_state_at = None
    seed = check_int("seed", seed, low=0)
    record_every = check_int("record_every", record_every, low=1)
    return _one_run(tuple(sorted(setting.items())), seed, record_every, keep_state_at)


def _seeds(seeds) -> tuple:
    seeds = tuple(check_int("seed", s, low=0) for s in seeds)
    if len(seeds) < 2:
        raise ValueError(f"seeds must hold at least 2 seeds (the spread needs two), got {seeds}")
    return seeds


def sweep_setting(seeds=SEEDS, k: int = TOP_K, share: float = ENERGY,
                  threshold: float = SETTLE_ANGLE, **overrides) -> dict:  # fmt: skip
    """One setting over ``seeds``: ``{"setting", "accuracy": (mean, sd), "seconds": (mean, sd),
    "layers": {name: {measure: (mean, sd)}}, "per_seed": [describe_run per seed]}``.

    A settling step that never came counts as the last step (the subspace reached its end
    value only at the end).
    """
    seeds = _seeds(seeds)
    setting = _setting(**overrides)
    runs = [trained_run(seed, **setting) for seed in seeds]
    described = [describe_run(run, k, share, threshold) for run in runs]
    layers = {}
    for name in runs[0].layer_names:
        layers[name] = {"shape": described[0][name]["shape"]}
        for measure in MEASURES:
            values = [
                setting["steps"] if d[name][measure] is None else d[name][measure]
                for d in described
            ]  # fmt: skip
            layers[name][measure] = mean_sd(values)
    return {
        "setting": setting,
        "seeds": seeds,
        "accuracy": mean_sd(run.test_accuracy for run in runs),
        "seconds": mean_sd(run.seconds for run in runs),
        "layers": layers,
        "per_seed": described,
        "steps": runs[0].steps,
    }


def update_sweep(settings, seeds=SEEDS, k: int = TOP_K, share: float = ENERGY) -> list[dict]:
    """:func:`sweep_setting` for each of ``settings`` (dicts of overrides of DEFAULT_SETTING)."""
    settings = list(settings)
    if not settings or not all(isinstance(s, dict) for s in settings):
        raise ValueError("settings must be a non-empty list of dicts such as {'lr': 1e-3}")
    return [sweep_setting(seeds, k, share, **overrides) for overrides in settings]


def gaussian_reference(shape, k: int = TOP_K, seeds=SEEDS) -> dict:
    """Stable rank and top-k energy share of Gaussian matrices of ``shape`` over ``seeds``:
    ``{"stable_rank": (mean, sd), "top_k_share": (mean, sd), "rank_for_energy": (mean, sd)}``.

    A matrix with i.i.d. entries prefers no direction; an update far below these numbers is
    concentrated in a few directions.
    """
    rows, cols = (check_int("shape", n, low=1) for n in shape)
    seeds = _seeds(seeds)
    k = min(check_int("k", k, low=1), rows, cols)
    values = {"stable_rank": [], "top_k_share": [], "rank_for_energy": []}
    for seed in seeds:
        g = torch.randn(rows, cols, generator=make_generator(seed + 1000), dtype=torch.float64)
        values["stable_rank"].append(stable_rank(g))
        values["top_k_share"].append(energy_share(g, k))
        values["rank_for_energy"].append(rank_for_energy(g, ENERGY))
    return {name: mean_sd(v) for name, v in values.items()}


def restricted_comparison(k: int = TOP_K, t0: int = T0, seeds=SEEDS, **overrides) -> dict:
    """Full training against training restricted after ``t0`` steps, over ``seeds``.

    For each seed: the full run of the setting (``steps`` steps), and from its weights at t0
    the restricted runs in the learned top-k subspaces and in random k-dimensional ones
    (:func:`restricted_training.train_restricted`). Returns ``{"accuracy": {"at t0", "full",
    "learned", "random", "learned - random" (the paired difference per seed)}: (mean, sd)},
    "per_seed": {same keys: [accuracy per seed]},
    "seconds": {"full after t0", "restricted"}: (mean, sd), "trainable": {"full", "restricted"},
    "outside": largest outside_span over seeds and layers}``.
    """
    seeds = _seeds(seeds)
    k = check_int("k", k, low=1)
    setting = _setting(**overrides)
    t0 = check_int("t0", t0, low=1, high=setting["steps"] - 1)
    per_seed = {"at t0": [], "full": [], "learned": [], "random": []}
    seconds = {"full after t0": [], "restricted": []}
    outside, trainable = 0.0, None
    data = load_mnist1d_data()
    for seed in seeds:
        run = trained_run(seed, keep_state_at=t0, **setting)
        per_seed["full"].append(run.test_accuracy)
        seconds["full after t0"].append(run.seconds - run.settings["seconds_at_state"])
        for subspace in ("learned", "random"):
            model = _model_at(setting, seed, run.settings["state_at"])
            result = train_restricted(
                model, data, run.initial, k=k, t0=t0, steps=setting["steps"],
                optimizer=setting["optimizer"], lr=setting["lr"],
                batch_size=setting["batch_size"], seed=seed, subspace=subspace,
            )  # fmt: skip
            per_seed[subspace].append(result["test_accuracy"])
            outside = max(outside, *result["outside"].values())
            trainable = result["trainable"]
            if subspace == "learned":
                seconds["restricted"].append(result["seconds"])
        per_seed["at t0"].append(_accuracy_of(_model_at(setting, seed, run.settings["state_at"])))
    full_count = sum(p.numel() for p in _model_at(setting, 0, None).parameters())
    per_seed["learned - random"] = [
        a - b for a, b in zip(per_seed["learned"], per_seed["random"], strict=True)
    ]
    return {
        "setting": setting,
        "k": k,
        "t0": t0,
        "seeds": seeds,
        "accuracy": {key: mean_sd(values) for key, values in per_seed.items()},
        "per_seed": per_seed,
        "seconds": {key: mean_sd(values) for key, values in seconds.items()},
        "trainable": {"full": full_count, "restricted": trainable},
        "outside": outside,
    }


def step_time_ratio(k: int = TOP_K, t0: int = T0, seeds=SEEDS, pairs: int = 60, **overrides):
    """One restricted step over one full step, timed side by side after ``t0``, over ``seeds``.

    For each seed, the model at t0 of :func:`trained_run` and its copy restricted to the learned
    top-k subspaces take ``pairs`` alternated steps on the same batches
    (:func:`restricted_training.step_seconds_side_by_side`); the per-seed figure is the median
    ratio. Returns ``{"ratio": (mean, sd) over seeds, "per_seed": [...]}``; a measurement of
    this machine (it changes a little from run to run), unlike everything else in this module.
    """
    seeds = _seeds(seeds)
    k = check_int("k", k, low=1)
    setting = _setting(**overrides)
    t0 = check_int("t0", t0, low=1, high=setting["steps"] - 1)
    data = load_mnist1d_data()
    per_seed = []
    for seed in seeds:
        run = trained_run(seed, keep_state_at=t0, **setting)
        full = _model_at(setting, seed, run.settings["state_at"])
        restricted = _model_at(setting, seed, run.settings["state_at"])
        at_t0 = weight_matrices(full)
        updates = {name: at_t0[name] - run.initial[name] for name in at_t0}
        trainable = restrict_model(restricted, subspace_bases(updates, k, "learned", seed))
        stream = BatchStream(data, setting["batch_size"], seed)
        stream.skip(t0)
        timing = step_seconds_side_by_side(
            full, restricted, trainable, stream,
            optimizer=setting["optimizer"], lr=setting["lr"], pairs=pairs,
        )  # fmt: skip
        per_seed.append(timing["ratio"])
    return {"ratio": mean_sd(per_seed), "per_seed": per_seed}


def _model_at(setting: dict, seed: int, state):
    model = _built_model(setting, seed)
    if state is not None:
        model.load_state_dict(state)
    return model


def _accuracy_of(model) -> float:
    return model_accuracy(model, load_mnist1d_data())
