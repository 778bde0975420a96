"""Lesson 02, Section 6: depth sharpens the stages, on lesson 01's living-things data.

``semantic_depth_demo`` trains linear networks of depth 2, 3 and 4 on the hierarchical data of
Saxe, McClelland & Ganguli (2019, PNAS; ``lowdim_course.semantic``) from small random inits and
measures how sharp each mode's stage is, ``(t_0.9 - t_0.1) / t_0.5``, over five seeds.
"""

from __future__ import annotations

import torch

from .. import semantic
from ..plots import demo_figure, show_figure
from ..spread import format_mean_sd, mean_sd
from ..threads import small_work

SEMANTIC_DEPTHS = (2, 3, 4)
SEMANTIC_SEEDS = range(5)
SEMANTIC_MAX_STEPS = 6000


@small_work()
def semantic_depth_demo(init_scale: float = 0.1, lr: float = 0.05, depths=SEMANTIC_DEPTHS):
    """Lesson 01's semantic data (``lowdim_course.semantic``) learned by networks of each depth.

    For each depth, five random inits (seeds 0-4, ``semantic.train_semantic``, hidden width 64)
    train by gradient descent until twice the weakest mode's aligned half-way time (at most
    6000 steps). Left: seed 0's first four modes (their meanings in the legend), with time
    counted in units of each run's half-way step of mode 1, so the shapes compare across depths.
    Prints per depth and mode the stage width ``(t_0.9 - t_0.1) / t_0.5``
    (``semantic.stage_widths``) as mean +- sd over the seeds, and in how many seeds the modes
    were learned in the order of their singular values. Returns the widths.
    """
    data = semantic.semantic_data()
    figure, axes_row = demo_figure(len(depths), 4.0 * len(depths), 3.4, title=False)
    widths, in_order = {}, {}
    for axes, depth in zip(axes_row, depths, strict=True):
        steps = min(SEMANTIC_MAX_STEPS, semantic.run_length(data, depth, init_scale, lr))
        runs = [
            semantic.train_semantic(
                depth, init_scale=init_scale, lr=lr, steps=steps, seed=seed, data=data
            )
            for seed in SEMANTIC_SEEDS
        ]
        per_seed = [semantic.stage_widths(run) for run in runs]
        widths[depth] = [
            None
            if any(seed[k] is None for seed in per_seed)
            else mean_sd([seed[k] for seed in per_seed])
            for k in range(4)
        ]
        in_order[depth] = sum(semantic.learned_in_order(run) for run in runs)
        first = runs[0]
        unit = first.half_way_steps()[0] or 1
        time = torch.arange(first.fractions.shape[0], dtype=torch.float64) / unit
        for k in range(4):
            axes.plot(time, first.fractions[:, k], color=f"C{k}", lw=2, label=data.meanings[k])
        axes.set_xlim(0, 4)
        axes.set_title(f"depth {depth}")
        axes.set_xlabel("step / half-way step of mode 1")
    axes_row[0].set_ylabel("mode learned, $u_k(t)/s_k$")
    axes_row[-1].legend(fontsize=7, loc="lower right")
    show_figure(figure)

    print(f"init_scale {init_scale:g}, lr {lr:g}; mean +- sd over {len(SEMANTIC_SEEDS)} seeds")
    print("stage width (t_0.9 - t_0.1) / t_0.5 per mode:")
    for depth in depths:
        cells = [
            "not reached" if value is None else format_mean_sd(value, digits=2)
            for value in widths[depth]
        ]
        print(f"  depth {depth}: " + "; ".join(cells))
        print(f"           learned in the order of s in {in_order[depth]}/5 seeds")
    return {"widths": widths, "in_order": in_order}
