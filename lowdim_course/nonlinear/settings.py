"""The nonlinear experiment's settings: the three models, their defaults, the claim's thresholds."""

from __future__ import annotations

KINDS = ("mlp", "dln", "cdln")
LABELS = {"mlp": "Original (MLP)", "dln": "Original + DLN", "cdln": "Original + C-DLN"}
OPTIMIZERS = ("adam", "gd")
# Which layers of the compressed block step with alpha lr: "first" (W_1, as Kwon et al. describe
# their nonlinear experiment) or "ends" (W_1 and W_L, as in their matrix experiments).
ALPHA_LAYERS = ("first", "ends")
CLAIM_POINTS = 0.5  # the claim: the same accuracy within 0.5 points ...
CLAIM_SPEEDUP = 2.0  # ... in at least 2x less training time

# The lesson's setting (a few seconds on a laptop CPU) and the `reproduce` setting (bigger block).
DEFAULTS = {
    "width": 128,
    "depth": 3,
    "r_hat": 20,
    "eps": 1.0,
    "lr": 1e-3,
    "alpha": 3.0,
    "alpha_layers": "first",
    "steps": 100,
    "eval_every": 5,
    "hidden_layers": 1,
    "optimizer": "adam",
    "batch_size": None,
    "test_fraction": 0.25,
    "seed": 0,
}
REPRODUCE_SETTINGS = {**DEFAULTS, "width": 512, "steps": 200}
