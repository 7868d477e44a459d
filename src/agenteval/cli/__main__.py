"""`python -m agenteval.cli`: the same as the `agenteval` command."""

import sys

from agenteval.cli import main

sys.exit(main())
