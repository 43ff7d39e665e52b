"""The house rules for mcpgate/: small functions, small modules, no imports dodging a cycle.

The layers themselves (imports only go down) are import-linter's, in ``make lint``.
"""

from __future__ import annotations

from tests import house


def test_no_function_is_longer_than_the_house_allows() -> None:
    over = [s for s in house.functions() if s.lines > house.MAX_FUNCTION_LINES]
    assert not over, "\n".join(f"{s.where}: {s.lines} lines" for s in over)


def test_no_module_is_longer_than_the_house_allows() -> None:
    over = [s for s in house.modules() if s.lines > house.MAX_MODULE_LINES]
    assert not over, "\n".join(f"{s.where}: {s.lines} lines" for s in over)


def test_no_function_imports_our_own_modules() -> None:
    assert house.imports_in_functions() == []


def test_the_measure_counts_a_function_from_def_to_its_last_line() -> None:
    sizes = {s.where.split(" ", 1)[1]: s.lines for s in house.functions() if s.where.startswith("mcpgate/app/run.py")}
    assert sizes["run_plan"] > 5
    assert all(lines >= 2 for lines in sizes.values())
