"""``python -m lowdim_course``: the same command line as the ``lowdim-course`` script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
