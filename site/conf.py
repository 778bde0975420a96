"""Sphinx configuration of the course's static site (built by ``python -m lowdim_course.website``).

The builder copies this file, ``_static/`` and the saved lesson notebooks into a staging
folder and runs Sphinx there: the notebooks are shown with the outputs they were saved with,
never executed (myst-nb, ``nb_execution_mode = "off"``), and nothing is fetched from the
network, so the site builds offline. Formulas are typeset by MathJax 3 (CommonHTML output, in
MathJax's own TeX web fonts) served from the site itself: the builder copies the MathJax 3.2.2
that the ``sphinx-mathjax-offline`` package ships into ``_static/mathjax``; nothing comes from a
CDN. (MathJax 2, as the ``jupyter-server-mathjax`` package ships it, lacks some of the fonts it
asks for and set inline math larger than the text and above its baseline.)
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
suppress_warnings = ["mystnb.unknown_mime_type"]

# MathJax 3 from the site's own _static/mathjax (copied there by the builder from the
# sphinx-mathjax-offline package). myst (myst_update_mathjax, on by default) tells it to typeset
# only the formulas of the text (the "math" spans), never a "\(" in code or in a printout.
mathjax_path = "mathjax/tex-chtml.js"
mathjax3_config = {
    # the CommonHTML output in MathJax's TeX fonts (from _static/mathjax/output/chtml/fonts), at
    # 1.1 times the text's font size, on its baseline. MathJax's default (matchFontHeight) scales
    # a formula until its x-height is the text's: 1.27 in the theme's sans-serif here (DejaVu
    # Sans), which makes capitals and digits visibly larger than the text's; TeX's fonts at 1.0
    # look small next to a sans-serif. tests/test_site.py measures the size and the baseline.
    "chtml": {"matchFontHeight": False, "scale": 1.1},
    # an unknown macro is a TeX error (an <mjx-merror>, which tests/test_site.py looks for),
    # not its name quietly drawn in red
    "tex": {"packages": {"[-]": ["noundefined"]}},
    # no right-click menu: its speech and accessibility options load further files on demand
    "options": {"enableMenu": False},
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
