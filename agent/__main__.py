"""``python -m agent``: the ``sharaka-gate`` command line (agent/cli.py)."""

import sys

from agent.cli import main

sys.exit(main())
