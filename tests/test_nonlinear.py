"""The nonlinear experiment: digits, the three classifiers, the compressed block, training."""

import json

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from lowdim_course.nonlinear import (
    DEFAULTS,
    MNIST1D_SETTINGS,
    MNIST1D_TUNED_RATES,
    BlockMLP,
    Digits,
    block_surrogate,
    build_model,
    cdln_block_param_count,
    check_settings,
    claim_check,
    dln_block_param_count,
    load_data,
    load_digits_data,
    load_mnist1d_data,
    percent_correct,
    reproduce_nonlinear,
    run_nonlinear,
    summarize,
    train_models,
)
from lowdim_course.rounding import RoundingPerturbation
from lowdim_course.training import DivergenceError

SMALL = {"width": 32, "depth": 3, "r_hat": 8, "eps": 1.0}


@pytest.fixture(scope="module")
def data():
    return load_digits_data(0.25, seed=0)


def test_digits_split_is_seeded_and_standardized(data):
    assert data.x_train.shape == (1797 - 449, 64) and data.x_test.shape == (449, 64)
    assert data.x_train.dtype == torch.float64 and data.y_train.dtype == torch.int64
    assert set(data.y_train.tolist()) == set(range(10)) and data.n_classes == 10
    varying = data.x_train.std(dim=0) > 0
    assert torch.allclose(
        data.x_train.mean(dim=0), torch.zeros(64, dtype=torch.float64), atol=1e-12
    )
    assert torch.allclose(
        data.x_train[:, varying].std(dim=0), torch.ones(int(varying.sum()), dtype=torch.float64)
    )
    again, other = load_digits_data(0.25, seed=0), load_digits_data(0.25, seed=1)
    assert torch.equal(again.x_test, data.x_test) and torch.equal(again.y_test, data.y_test)
    assert not torch.equal(other.y_test, data.y_test)


@pytest.mark.parametrize(("width", "depth", "r_hat"), [(32, 3, 8), (24, 2, 5), (16, 4, 16)])
def test_shapes_and_parameter_counts(data, width, depth, r_hat):
    base = 64 * width + width + 10 * width + 10
    models = {
        kind: build_model(kind, data, width=width, depth=depth, r_hat=r_hat)
        for kind in ("mlp", "dln", "cdln")
    }
    assert models["mlp"].num_params == base and models["mlp"].depth == 0
    assert models["dln"].block_params == depth * width**2 == dln_block_param_count(width, depth)
    assert models["dln"].num_params == base + depth * width**2
    compressed = 2 * width * r_hat + (depth - 2) * r_hat**2
    assert models["cdln"].block_params == compressed == cdln_block_param_count(width, r_hat, depth)
    assert models["cdln"].num_params == base + compressed
    shapes = [tuple(w.shape) for w in models["cdln"].block_layers()]
    assert shapes == [(r_hat, width)] + [(r_hat, r_hat)] * (depth - 2) + [(width, r_hat)]
    assert all(layer.bias is None for layer in models["dln"].block)
    for model in models.values():
        assert model(data.x_test[:7]).shape == (7, 10)
    # the three models share the MLP part
    for kind in ("dln", "cdln"):
        assert torch.equal(models[kind].hidden[0].weight, models["mlp"].hidden[0].weight)
        assert torch.equal(models[kind].output.weight, models["mlp"].output.weight)


def test_dln_block_is_eps_times_orthogonal(data):
    model = build_model("dln", data, width=20, depth=3, eps=0.5)
    for weight in model.block_layers():
        assert torch.allclose(
            weight.T @ weight, 0.25 * torch.eye(20, dtype=torch.float64), atol=1e-12
        )


def test_surrogate_is_minus_the_gradient_at_a_zero_block(data):
    model = build_model("mlp", data, width=32)
    with torch.no_grad():  # a non-zero output bias, so P is not uniform
        model.output.bias.copy_(torch.linspace(-1, 1, 10, dtype=torch.float64))
    block = torch.zeros(32, 32, dtype=torch.float64, requires_grad=True)
    features = model.features(data.x_train).detach()
    logits = model.output(features @ block.T)
    torch.nn.functional.cross_entropy(logits, data.y_train).backward()
    surrogate = block_surrogate(model, data.x_train, data.y_train)
    assert torch.allclose(surrogate, -block.grad, rtol=1e-10, atol=1e-14)
    singular = torch.linalg.svdvals(surrogate)
    assert int((singular > 1e-10 * singular[0]).sum()) <= 9  # rank <= K - 1


@pytest.mark.parametrize(("depth", "eps"), [(2, 1.0), (3, 1.0), (4, 0.3)])
def test_compressed_block_init_matches_its_definition(data, depth, eps):
    r_hat = 6
    model = build_model("cdln", data, width=32, depth=depth, r_hat=r_hat, eps=eps)
    mlp = build_model("mlp", data, width=32)
    features = mlp.features(data.x_train).detach()
    one_hot = torch.nn.functional.one_hot(data.y_train, 10).to(torch.float64)
    surrogate = mlp.output.weight.T @ (one_hot - 0.1).T @ features / features.shape[0]
    u, _, vh = torch.linalg.svd(surrogate)
    layers = model.block_layers()
    eye = torch.eye(r_hat, dtype=torch.float64)
    # W_1 = eps V_hat^T: orthonormal rows times eps, spanning the top right singular vectors
    assert torch.allclose(layers[0] @ layers[0].T, eps**2 * eye, atol=1e-10)
    assert torch.allclose(layers[-1].T @ layers[-1], eps**2 * eye, atol=1e-10)
    for middle in layers[1:-1]:
        assert torch.equal(middle.detach(), eps * eye)
    # end to end: eps^L U_hat V_hat^T (sign-free), the documented construction
    expected = eps**depth * u[:, :r_hat] @ vh[:r_hat]
    assert torch.allclose(model.block_end_to_end(), expected, atol=1e-8 * eps**depth)


def test_compressed_block_beyond_the_surrogate_rank_is_the_same_when_rounding_differs(data):
    """r_hat = 20 above the surrogate's rank 9: 11 columns are seeded, not the SVD's null basis.

    Features perturbed by 1e-12 relative (the size of two processors' BLAS differences) give the
    same block to 1e-9; the extra columns are orthogonal to the surrogate's top nine.
    """
    reference = build_model("cdln", data, width=64, r_hat=20).block_layers()
    noise = torch.randn(data.x_train.shape, generator=torch.Generator().manual_seed(7),
                        dtype=torch.float64)  # fmt: skip
    perturbed = Digits(data.x_train * (1 + 1e-12 * noise), data.y_train, data.x_test,
                       data.y_test)  # fmt: skip
    layers = build_model("cdln", perturbed, width=64, r_hat=20).block_layers()
    for want, got in zip(reference, layers, strict=True):
        torch.testing.assert_close(got.detach(), want.detach(), atol=1e-9, rtol=0)
    mlp = build_model("mlp", data, width=64)
    surrogate = block_surrogate(mlp, data.x_train, data.y_train)
    first = reference[0].detach()  # eps V_hat^T with eps = 1
    assert torch.linalg.matrix_norm(surrogate @ first[9:].T) < 1e-12 * torch.linalg.norm(surrogate)


@pytest.mark.parametrize(
    ("alpha_layers", "fast_layers"),
    [("ends", ("block.0.weight", "block.3.weight")), ("first", ("block.0.weight",))],
)
def test_discrepant_rate_on_the_chosen_block_layers(data, alpha_layers, fast_layers):
    lr, alpha = 0.05, 3.0
    model = build_model("cdln", data, width=16, depth=4, r_hat=5)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    loss = torch.nn.functional.cross_entropy(model(data.x_train), data.y_train)
    gradients = dict(zip(before, torch.autograd.grad(loss, list(model.parameters())), strict=True))
    train_models(
        {"cdln": model}, data, lr=lr, alpha=alpha, alpha_layers=alpha_layers, steps=1,
        optimizer="gd",
    )  # fmt: skip
    rates = dict.fromkeys(fast_layers, alpha * lr)
    for name, parameter in model.named_parameters():
        rate = rates.get(name, lr)
        assert torch.allclose(parameter, before[name] - rate * gradients[name], atol=1e-14), name
    # a full-width block ignores alpha (the paper's original)
    dln = build_model("dln", data, width=16, depth=3)
    first = dln.block[0].weight.detach().clone()
    loss = torch.nn.functional.cross_entropy(dln(data.x_train), data.y_train)
    (gradient,) = torch.autograd.grad(loss, [dln.block[0].weight])
    train_models({"dln": dln}, data, lr=lr, alpha=alpha, steps=1, optimizer="gd")
    assert torch.allclose(dln.block[0].weight, first - lr * gradient, atol=1e-14)


def test_same_seed_same_numbers_and_accuracy_above_chance():
    runs = [run_nonlinear(steps=30, eval_every=10, **SMALL) for _ in range(2)]
    for kind in ("mlp", "dln", "cdln"):
        first, second = runs[0][kind], runs[1][kind]
        assert first.test_accuracy == second.test_accuracy
        assert first.train_loss == second.train_loss
        assert first.iterations == [0, 10, 20, 30]
        assert first.final_accuracy > 40.0  # chance is 10%
        assert first.seconds == sorted(first.seconds) and first.seconds_per_step > 0
    batched = [
        run_nonlinear(kinds=("cdln",), steps=12, eval_every=6, batch_size=100, **SMALL)
        for _ in range(2)
    ]
    assert batched[0]["cdln"].train_loss == batched[1]["cdln"].train_loss
    assert batched[0]["cdln"].train_loss != runs[0]["cdln"].train_loss[:3]


def test_claim_check_reads_the_histories():
    histories = run_nonlinear(kinds=("dln", "cdln"), steps=20, eval_every=5, **SMALL)
    claim = claim_check(histories)
    dln, cdln = histories["dln"], histories["cdln"]
    assert claim["target_accuracy"] == pytest.approx(dln.final_accuracy - 0.5)
    assert claim["accuracy_gap"] == pytest.approx(cdln.final_accuracy - dln.final_accuracy)
    reached = dln.seconds_to(claim["target_accuracy"])
    assert claim["seconds_to_target"]["dln"] == reached is not None
    assert claim["block_params_ratio"] == pytest.approx(3 * 32**2 / (2 * 32 * 8 + 64))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: build_model("cnn", d), "kind must be one of"),
        (lambda d: build_model("dln", d, width=0), "width must be an integer >= 1"),
        (lambda d: build_model("dln", d, depth=1), "depth must be an integer >= 2"),
        (
            lambda d: build_model("cdln", d, width=16, r_hat=17),
            r"r_hat must be an integer in \[1, 16\]",
        ),
        (lambda d: build_model("cdln", d, eps=0.0), "eps must be > 0"),
        (lambda d: build_model("mlp", d, hidden_layers=0), "hidden_layers must be"),
        (lambda d: build_model("mlp", "digits"), "data must be ClassificationData"),
        (lambda d: load_digits_data(1.5), r"test_fraction must be in \(0, 1\)"),
        (lambda d: train_models({"m": build_model("mlp", d, width=8)}, d, lr=-1), "lr must be > 0"),
        (lambda d: train_models({"m": build_model("mlp", d, width=8)}, d, steps=0), "steps must"),
        (
            lambda d: train_models({"m": build_model("mlp", d, width=8)}, d, optimizer="lbfgs"),
            "optimizer must be one of",
        ),
        (
            lambda d: train_models({"m": build_model("mlp", d, width=8)}, d, batch_size=0),
            "batch_size must be",
        ),
        (lambda d: train_models({}, d), "models must be"),
        (
            lambda d: train_models({"m": build_model("mlp", d, width=8)}, d, alpha_layers="last"),
            "alpha_layers must be one of",
        ),
        (lambda d: run_nonlinear(widht=10), "unknown setting"),
        (lambda d: run_nonlinear(data="mnist"), "data must be one of 'digits', 'mnist1d'"),
        (lambda d: load_data("fashion"), "data must be one of"),
        (lambda d: run_nonlinear(lr={"mlp": 0.0}), r"lr\['mlp'\] must be > 0"),
        (lambda d: run_nonlinear(lr={"cnn": 1e-3}), "lr's keys must be one of"),
        (lambda d: run_nonlinear(kinds=("mlp", "dln"), lr={"mlp": 1e-3}), "lr must give a rate"),
        (lambda d: check_settings({**DEFAULTS, "steps": 0}), "steps must be an integer >= 1"),
        (lambda d: check_settings({**DEFAULTS, "batch_size": 0}), "batch_size must be"),
        (lambda d: run_nonlinear(kinds=("mlp", "rnn")), "kinds must be one of"),
    ],
)
def test_bad_arguments_name_the_argument(data, call, message):
    with pytest.raises(ValueError, match=message):
        call(data)


@pytest.mark.skipif(torch.cuda.is_available(), reason="only where no GPU exists")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        load_digits_data(device="cuda")


def test_divergence_says_to_lower_the_learning_rate(data):
    model = build_model("dln", data, width=16)
    with pytest.raises(DivergenceError, match="lower the learning rate"):
        train_models({"dln": model}, data, lr=1e4, steps=50, optimizer="gd")


def test_reproduce_writes_png_and_json(tmp_path):
    summary = reproduce_nonlinear(
        out_dir=tmp_path / "out", progress=False, width=24, r_hat=6, steps=10, eval_every=5
    )
    png, js = tmp_path / "out" / "nonlinear.png", tmp_path / "out" / "nonlinear.json"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = json.loads(js.read_text())
    assert stored["experiment"] == "nonlinear" and set(stored["models"]) == {"mlp", "dln", "cdln"}
    assert stored["settings"]["width"] == 24 and stored["settings"]["steps"] == 10
    assert stored["settings"]["depth"] == 3 and stored["settings"]["alpha"] == DEFAULTS["alpha"]
    assert stored["models"]["cdln"]["block_params"] == 2 * 24 * 6 + 36
    assert "speedup" in stored["claim"] and summary["claim"]["holds"] in (True, False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "nonlinear.json",
        "nonlinear.png",
    ]
    with pytest.raises(ValueError, match="unknown setting"):
        reproduce_nonlinear(out_dir=tmp_path, progress=False, colour="red")


def test_defaults_are_a_compressed_block_much_smaller_than_the_full_one():
    assert DEFAULTS["r_hat"] * 6 <= DEFAULTS["width"]
    ratio = dln_block_param_count(DEFAULTS["width"], DEFAULTS["depth"]) / cdln_block_param_count(
        DEFAULTS["width"], DEFAULTS["r_hat"], DEFAULTS["depth"]
    )
    assert ratio > 8
    assert isinstance(build_model("mlp", load_digits_data(), width=8), BlockMLP)


def test_accuracy_is_a_count_divided_once_whatever_the_rounding():
    labels = torch.zeros(2000, dtype=torch.int64)
    predictions = labels.clone()
    predictions[1533:] = 1  # 1533 of 2000 correct: 76.65, a tie at one decimal
    with RoundingPerturbation(1e-12):  # every float sum off by 1e-12: the count is an integer
        perturbed = percent_correct(predictions, labels)
    assert percent_correct(predictions, labels) == perturbed == 100.0 * 1533 / 2000


def test_mnist1d_split_is_fixed_and_the_seed_draws_only_the_weights():
    first, other = load_data("mnist1d", seed=0), load_data("mnist1d", 0.5, seed=3)
    reference = load_mnist1d_data()
    for a, b in ((first, other), (first, reference)):
        assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert first.name == "mnist1d" and first.n_features == 40
    digits = load_data("digits", 0.25, seed=0)
    assert torch.equal(digits.x_test, load_digits_data(0.25, seed=0).x_test)
    runs = [run_nonlinear(data="mnist1d", seed=s, steps=4, eval_every=2, **SMALL) for s in (0, 1)]
    assert runs[0]["mlp"].settings["data"] == "mnist1d"
    assert runs[0]["mlp"].train_loss != runs[1]["mlp"].train_loss  # other initial weights


def test_a_rate_per_model_trains_each_as_it_would_train_alone():
    rates = {"mlp": 3e-3, "dln": 1e-3, "cdln": 2e-3}
    together = run_nonlinear(lr=rates, steps=6, eval_every=3, **SMALL)
    for kind, rate in rates.items():
        alone = run_nonlinear(kinds=(kind,), lr=rate, steps=6, eval_every=3, **SMALL)[kind]
        assert together[kind].settings["lr"] == rate
        assert together[kind].train_loss == alone.train_loss
        assert together[kind].test_accuracy == alone.test_accuracy
    assert summarize(together)["settings"]["lr"] == rates
    assert summarize(run_nonlinear(steps=2, **SMALL))["settings"]["lr"] == DEFAULTS["lr"]


def test_reproduce_on_mnist1d_uses_each_models_tuned_rate(tmp_path):
    reproduce_nonlinear(
        out_dir=tmp_path, progress=False, data="mnist1d", width=16, r_hat=4, steps=4, eval_every=2
    )
    stored = json.loads((tmp_path / "nonlinear.json").read_text())
    assert stored["settings"]["data"] == "mnist1d" and stored["settings"]["batch_size"] == 100
    assert stored["settings"]["hidden_layers"] == MNIST1D_SETTINGS["hidden_layers"]
    assert all(model["steps"] == 4 for model in stored["models"].values())
    if len(set(MNIST1D_TUNED_RATES.values())) > 1:
        assert stored["settings"]["lr"] == MNIST1D_TUNED_RATES
    else:
        assert stored["settings"]["lr"] == next(iter(MNIST1D_TUNED_RATES.values()))
