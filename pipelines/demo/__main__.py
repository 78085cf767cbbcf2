"""``python -m pipelines.demo OUT [--entities N] [--seed S] [--page-size P] [--bad-rows RATE]``."""

import sys

from pipelines.demo.generator import main

sys.exit(main())
