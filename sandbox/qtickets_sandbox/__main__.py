"""`python -m qtickets_sandbox` = the `qtickets-sandbox` console script."""

import sys

from .cli import main

sys.exit(main())
