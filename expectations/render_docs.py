"""The background Data Docs renderer: ``python -m expectations.render_docs DIR`` draws every
validation queued in the site ``DIR`` (see :mod:`expectations.data_docs`), and while a run is going
waits for the next. A second argument is the descriptor of the render lock its parent took for it."""

import os
import sys

from expectations.data_docs import render_pending, warm_up

if __name__ == "__main__":
    # drawn with what the run leaves over: importing Great Expectations takes seconds of CPU, which a
    # run on a small machine would otherwise share with it
    os.nice(10)
    warm_up()
    render_pending(sys.argv[1], linger=True, lock_fd=int(sys.argv[2]) if len(sys.argv) > 2 else None)
