"""Correct answers to lesson 00's and 04's exercises, as a student would type them: the
notebooks the grading tests build start from these (lesson 04: three warm-ups, the capstone
``compressed_gd_step`` and the self-check ``narrow_width``), and ``write_submission``, which
saves a list of code cells as a notebook a student hands in."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

IMPORT = "import torch\nfrom lowdim_course.exercises import check"

SPECTRAL_INIT = """
def spectral_init(surrogate, r_hat, depth, eps):
    u, s, vh = torch.linalg.svd(surrogate, full_matrices=False)
    middle = [eps * torch.eye(r_hat, dtype=surrogate.dtype) for _ in range(depth - 2)]
    return [eps * vh[:r_hat], *middle, eps * u[:, :r_hat]]
"""
PARAM_COUNT = """
def compressed_param_count(d, r_hat, depth):
    return 2 * d * r_hat + (depth - 2) * r_hat ** 2
"""
RATES = """
def layer_learning_rates(depth, lr, alpha):
    return [alpha * lr] + [lr] * (depth - 2) + [alpha * lr]
"""
COMPRESSED_STEP = """
def compressed_gd_step(layers, target, eta, alpha):
    product = torch.eye(layers[0].shape[1], dtype=target.dtype)
    below = []
    for layer in layers:
        below.append(product)
        product = layer @ product
    above = torch.eye(target.shape[0], dtype=target.dtype)
    gradients = [None] * len(layers)
    for index in reversed(range(len(layers))):
        gradients[index] = above.T @ (product - target) @ below[index].T
        above = above @ layers[index]
    rates = [alpha * eta] + [eta] * (len(layers) - 2) + [alpha * eta]
    return [w - rate * g for w, rate, g in zip(layers, rates, gradients)]
"""
NARROW_WIDTH = """
def narrow_width():
    return (2**2 + 1**2) ** 0.5 / (6**2 + 3**2 + 2**2 + 1**2) ** 0.5
"""
END_TO_END = """
def end_to_end(layers):
    product = layers[0]
    for layer in layers[1:]:
        product = layer @ product
    return product
"""
RECOVERY = """
def recovery_error(W, M_star):
    return torch.linalg.matrix_norm(W - M_star) / torch.linalg.matrix_norm(M_star)
"""


def checked(definition: str, exercise_id: str) -> str:
    """The answer cell as a student writes it: the def, then its check."""
    name = exercise_id.split(".", 1)[1]
    return f'{definition.strip()}\ncheck("{exercise_id}", {name})\n'


def write_submission(path: Path, sources, lesson: str | None = None, title: str | None = None):
    """Save ``sources`` as the code cells of a notebook at ``path`` (after a markdown ``title``
    where one is given), its metadata naming ``lesson`` where one is given."""
    cells = [new_code_cell(source) for source in sources]
    if title is not None:
        cells.insert(0, new_markdown_cell(title))
    notebook = new_notebook(cells=cells)
    if lesson is not None:
        notebook.metadata["lowdim_course"] = {"lesson": lesson}
    nbformat.write(notebook, path)
    return path
