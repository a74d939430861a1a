"""Print the mutation score of each module from the results `mutmut run` left in mutants/.

Usage: .venv/bin/python bench/mutation_summary.py [MODULE_GLOB ...]
(globs as in `make mutation MODULES=...`, for example aliases/validators.py aliases/vicidial/*).

Score = killed / (killed + survived + no tests + other), where timeouts count as killed, as
in docs/TESTING.md. "other" is whatever mutmut could not class as killed or survived
(suspicious, segfault, interrupted); "not checked" mutants are left out and shown apart.
"""

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

MUTANTS = Path("mutants")
KILLED = {"killed", "timeout", "caught by type check"}


def results_by_module() -> dict[str, dict[str, str]]:
    results = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        module = str(meta.relative_to(MUTANTS))[: -len(".meta")]
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        if exit_codes:
            results[module] = {name: status_by_exit_code[code] for name, code in exit_codes.items()}
    return results


def selected(module: str, globs: list[str]) -> bool:
    return not globs or any(
        fnmatch.fnmatch(module, glob) or fnmatch.fnmatch(module, glob.rstrip("/") + "/*")
        for glob in globs
    )


def main(globs: list[str]) -> int:
    results = {m: r for m, r in results_by_module().items() if selected(m, globs)}
    if not results:
        print("No mutation results in mutants/: run `make mutation` first.")
        return 1
    header = f"{'module':<36} {'killed':>6} {'timeout':>7} {'survived':>8} {'no tests':>8}"
    print(f"{header} {'other':>5} {'score':>7}")
    leftovers = []
    for module, statuses in results.items():
        counts = Counter(statuses.values())
        killed = sum(counts[s] for s in KILLED)
        not_checked = counts["not checked"] + counts["skipped"]
        other = len(statuses) - killed - counts["survived"] - counts["no tests"] - not_checked
        judged = len(statuses) - not_checked
        score = f"{100 * killed / judged:6.1f}%" if judged else "     -"
        print(
            f"{module:<36} {counts['killed'] + counts['caught by type check']:>6}"
            f" {counts['timeout']:>7} {counts['survived']:>8} {counts['no tests']:>8}"
            f" {other:>5} {score:>7}" + (f"  ({not_checked} not checked)" if not_checked else "")
        )
        leftovers += [
            (name, status)
            for name, status in statuses.items()
            if status not in KILLED | {"not checked", "skipped"}
        ]
    if leftovers:
        print("\nNot killed (`.venv/bin/mutmut show NAME` prints the change):")
        for name, status in leftovers:
            print(f"  {status:<12} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
