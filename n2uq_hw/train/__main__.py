"""``python -m n2uq_hw.train``."""

import sys

from n2uq_hw.errors import run_cli
from n2uq_hw.train.cli import main

sys.exit(run_cli(main))
