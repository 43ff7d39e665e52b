"""Reports: pure functions of a results file (console text now; more formats build on it)."""
