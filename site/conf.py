"""Sphinx configuration of the course's static site (built by ``python -m lowdim_course.website``).

The builder copies this file, ``_static/`` and the saved lesson notebooks into a staging
folder and runs Sphinx there: the notebooks are shown with the outputs they were saved with,
never executed (myst-nb, ``nb_execution_mode = "off"``), and nothing is fetched from the
network, so the site builds offline. MathJax is served from the site itself (the copy that the
``jupyter-server-mathjax`` package ships), not from a CDN.
"""

from lowdim_course import __version__, links

project = "lowdim-course"
author = "lowdim-course developers"
copyright = "the lowdim-course developers; code MIT, lesson text and figures CC BY 4.0"
release = __version__

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The notebooks as saved: their figures and printed numbers are what the site shows.
nb_execution_mode = "off"
# A slider panel's saved output holds the widget view (which needs a kernel), a static HTML copy
# of its opening run (lowdim_course.widgets.SliderPanel) and the text "interactive(children=...)".
# The site shows the static copy.
nb_mime_priority_overrides = [
    ("html", "application/vnd.jupyter.widget-view+json", None),
    ("html", "text/html", 5),
]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# myst would add a MathJax 3 configuration (window.MathJax = {...}); this site runs MathJax 2.
myst_update_mathjax = False
suppress_warnings = ["mystnb.unknown_mime_type"]

# MathJax 2.7 from the site's own _static/mathjax (copied there by the builder from the
# jupyter-server-mathjax package, the copy the classic Jupyter Notebook served).
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax3_config = None
mathjax2_config = {
    "tex2jax": {
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        "processRefs": False,
        "processEnvironments": False,
    },
    # the package ships the STIX web fonts only (not MathJax's TeX fonts): use them, never the
    # fonts installed on the reader's machine, and never image fonts
    "HTML-CSS": {
        "availableFonts": [],
        "preferredFont": None,
        "webFont": "STIX-Web",
        "imageFont": None,
    },
    "showMathMenu": False,
    "messageStyle": "none",
}

html_theme = "sphinx_book_theme"
html_title = "lowdim-course"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_theme_options = {
    "repository_url": links.REPOSITORY_URL,
    "repository_branch": links.PINNED_REF,
    "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "jupyterlab",
    },
    "show_toc_level": 2,
}
html_last_updated_fmt = None
