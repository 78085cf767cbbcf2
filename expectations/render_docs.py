"""The background Data Docs renderer: ``python -m expectations.render_docs DIR`` draws every
validation queued in the site ``DIR`` (see :mod:`expectations.data_docs`)."""

import sys

from expectations.data_docs import render_pending

if __name__ == "__main__":
    render_pending(sys.argv[1])
