"""The background Data Docs renderer: ``python -m expectations.render_docs DIR`` draws every
validation queued in the site ``DIR`` (see :mod:`expectations.data_docs`), and while a run is going
waits for the next. A second argument is the descriptor of the render lock its parent took for it."""

import sys

from expectations.data_docs import render_pending, warm_up

if __name__ == "__main__":
    warm_up()
    render_pending(sys.argv[1], linger=True, lock_fd=int(sys.argv[2]) if len(sys.argv) > 2 else None)
