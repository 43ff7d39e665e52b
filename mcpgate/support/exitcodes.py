"""Every exit code mcpgate returns, in one place (the README documents each).

The load-test codes follow k6 (grafana/k6 errext/exitcodes) so a CI job that
already knows k6's codes reads ours the same way.
"""

from typing import Final

OK: Final = 0
CHECK_FAILED: Final = 1  # probe, smoke or monitor: a step was not ok
THRESHOLDS_FAILED: Final = 99  # also when a threshold aborted the run
COULD_NOT_START: Final = 103  # preflight session failed: refused, 401, not MCP
INVALID_INPUT: Final = 104  # invalid config, flag or argument
INTERRUPTED: Final = 105  # SIGINT or SIGTERM
INTERNAL_ERROR: Final = 70  # a bug in mcpgate stopped the run (EX_SOFTWARE); results are still written
