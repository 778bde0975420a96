"""The JAX half of ``paper_side_by_side.py``: times the paper's own code, run by a JAX python.

This file runs under the JAX environment's python (not the course's venv) and imports the
modules of a checkout of Kwon et al.'s code (``network.py``, ``solver.py``, ``loss.py``,
``data.py``, ``utils.py``) from ``--paper-code``. Nothing of that code is copied here.

It builds the networks as the paper's notebooks ``fig_traj_mf.ipynb`` and ``fig_traj_mc.ipynb``
do (float64, ``PRNGKey(0)``, ``generate_data``, ``init_net`` with orthogonal init at scale
``init_scale``, ``kwon_compress_network`` with ``grad_rank = 2r`` and its first two and last two
factors merged), and steps them the way ``solver.train`` does: ``optax.sgd``, and for the
compressed network ``optax.multi_transform`` that scales the first and last factors' updates by
``dlr``; the step is ``grad`` of ``loss(compute_end_to_end(weights))`` then ``tx.update`` and
``optax.apply_updates``, run 100 at a time by ``jax.lax.fori_loop`` (here inside ``jax.jit``).

Protocol (one JSON object per line on stdout):

* on start it prints ``{"ready": true, "jax": ..., "networks": {...}}`` once every network is
  compiled and warmed up (compile time is excluded from every timing); each network's entry
  has ``difference_from_solver_train``: the largest relative difference between 100 steps of
  the timed loop and one outer loop (100 steps) of ``solver.train`` itself, from the same start;
* each line ``TASK NAME BLOCKS`` on stdin (e.g. ``mf original 5``) times BLOCKS blocks of 100
  steps of that network, each block ended by ``block_until_ready``, and prints
  ``{"task", "network", "seconds_per_step", "block_seconds", "loss"}``;
* ``quit`` (or the end of stdin) ends it.

    /work/jaxenv/bin/python benchmarks/paper_side_by_side_jax.py --paper-code /work/paper-code \
        --tasks mf --settings '{"mf": {"d": 100, "r": 10, "lr": 50.0, "alpha": 1.0}}'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

STEPS_PER_BLOCK = 100  # solver.train's default n_inner_loops


def emit(obj) -> None:
    print(json.dumps(obj), flush=True)


def build(task: str, settings: dict, init_scale: float, depth: int):
    """``{name: (init_weights, loss_fn, dlr)}`` for ``task``, built as the paper's notebook does."""
    from data import generate_data, generate_observation_matrix
    from jax.random import PRNGKey, split
    from loss import create_loss
    from network import init_net, kwon_compress_network

    d, r = settings["d"], settings["r"]
    key = PRNGKey(0)
    key, subkey = split(key)
    target = generate_data(key=subkey, shape=(d, d), rank=r)
    if task == "mc":
        key, subkey = split(key)
        p = settings["p"]
        mask = generate_observation_matrix(key=subkey, percent_observed=p, shape=(d, d))
        loss_fn = create_loss(target, mask=mask)
        surrogate = (1 / p) * target * mask
    else:
        loss_fn = create_loss(target)
        surrogate = target
    key, subkey = split(key)
    original = init_net(
        key=subkey, input_dim=d, output_dim=d, width=d, depth=depth, init_scale=init_scale
    )
    factors, _ = kwon_compress_network(
        target=surrogate, grad_rank=2 * r, init_scale=init_scale, depth=depth
    )
    # the notebooks merge the first two and the last two factors: depth matrices in all
    compressed = [factors[1] @ factors[0], *factors[2:-2], factors[-1] @ factors[-2]]
    return {
        "original": (original, loss_fn, None),
        "compressed": (compressed, loss_fn, settings["alpha"]),
    }


def step_loop(init_weights, loss_fn, step_size: float, dlr):
    """A jitted function running 100 of ``solver.train``'s steps, and its optimizer state."""
    import jax
    import optax
    from network import compute_end_to_end
    from utils import compose

    depth = len(init_weights)
    objective = compose(loss_fn, compute_end_to_end)  # solver.train's train_e2e_loss_fn
    tx = optax.sgd(learning_rate=step_size)  # solver.train, optimizer="gd"
    if dlr is not None:  # solver.train's discrepant rate: first and last factor scaled by dlr
        labels = ["factor"] + (depth - 2) * ["weight"] + ["factor"]
        tx = optax.multi_transform(
            {"weight": tx, "factor": optax.chain(tx, optax.scale(dlr))}, labels
        )

    def body_fun(_, carry):
        weights, opt_state = carry
        grads = jax.grad(objective)(weights)
        updates, opt_state = tx.update(grads, opt_state)
        return optax.apply_updates(weights, updates), opt_state

    @jax.jit
    def block(carry):
        return jax.lax.fori_loop(0, STEPS_PER_BLOCK, body_fun, carry)

    return block, (init_weights, tx.init(init_weights)), jax.jit(objective)


def difference_from_solver_train(block, carry, init_weights, loss_fn, step_size, dlr) -> float:
    """Largest relative difference between one block here and one outer loop of solver.train.

    Both start from ``init_weights`` and take 100 steps; a difference near rounding (1e-15)
    shows that the timed loop is the paper's step.
    """
    import jax.numpy as jnp
    from network import compute_end_to_end
    from solver import train

    ours = block(carry)[0]
    theirs = train(
        init_weights=init_weights,
        network_fn=compute_end_to_end,
        loss_fn_dict={"train": loss_fn},
        n_outer_loops=1,
        step_size=step_size,
        dlr=dlr,
        n_inner_loops=STEPS_PER_BLOCK,
    )["final_weights"]
    return max(
        float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
        for a, b in zip(ours, theirs, strict=True)
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper-code", required=True)
    parser.add_argument("--tasks", default="mf", help="comma-separated: mf, mc")
    parser.add_argument("--settings", required=True, help="JSON: {task: {d, r, lr, alpha, p}}")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--init-scale", type=float, default=1e-2)
    parser.add_argument("--warmup-blocks", type=int, default=3)
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.abspath(args.paper_code))
    os.environ.setdefault("TQDM_DISABLE", "1")  # solver.train's progress bar, in the check

    import jax

    jax.config.update("jax_enable_x64", True)  # as the notebooks do
    all_settings = json.loads(args.settings)

    runners, described = {}, {}
    for task in args.tasks.split(","):
        settings = all_settings[task]
        for name, (weights, loss_fn, dlr) in build(
            task, settings, args.init_scale, args.depth
        ).items():
            block, carry, objective = step_loop(weights, loss_fn, settings["lr"], dlr)
            check = difference_from_solver_train(
                block, carry, weights, loss_fn, settings["lr"], dlr
            )
            for _ in range(args.warmup_blocks):  # compile and warm up, untimed
                carry = jax.block_until_ready(block(carry))
            runners[task, name] = [block, carry, objective]
            described[f"{task} {name}"] = {
                "shapes": [list(w.shape) for w in weights],
                "params": int(sum(w.size for w in weights)),
                "dtype": str(weights[0].dtype),
                "lr": settings["lr"],
                "dlr": dlr,
                "difference_from_solver_train": check,
            }
    emit(
        {
            "ready": True,
            "jax": jax.__version__,
            "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else None,
            "optax": __import__("optax").__version__,
            "backend": jax.default_backend(),
            "devices": [str(device) for device in jax.devices()],
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "python": sys.version.split()[0],
            "steps_per_block": STEPS_PER_BLOCK,
            "networks": described,
        }
    )
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        task, name, blocks = words[0], words[1], int(words[2])
        runner = runners[task, name]
        block, carry, objective = runner
        block_seconds = []
        for _ in range(blocks):
            start = time.perf_counter()
            carry = jax.block_until_ready(block(carry))
            block_seconds.append(time.perf_counter() - start)
        runner[1] = carry
        emit(
            {
                "task": task,
                "network": name,
                "seconds_per_step": sum(block_seconds) / (blocks * STEPS_PER_BLOCK),
                "block_seconds": block_seconds,
                "loss": float(objective(carry[0])),
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
