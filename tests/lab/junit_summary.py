#!/usr/bin/env python3
"""Sums JUnit XML files (GoogleTest and pytest both write them).

Usage: junit_summary.py FILE_OR_DIR...

Prints one line per file, the failed cases, and as the very last line
exactly "N passed, N failed" (", N skipped" appended when any were skipped).
Exits 1 when anything failed or a file could not be read, 2 when no test
case was found at all, else 0.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def classify(case: ET.Element) -> str:
    if case.find("failure") is not None or case.find("error") is not None:
        return "failed"
    if case.find("skipped") is not None:
        return "skipped"
    # GoogleTest: result="skipped" (GTEST_SKIP) or status="notrun" (DISABLED_).
    if case.get("result") == "skipped" or case.get("status") == "notrun":
        return "skipped"
    return "passed"


def summarize(path: Path) -> tuple[dict[str, int], list[str]]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    failed: list[str] = []
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        counts["failed"] += 1
        failed.append(f"{path.name}: unreadable JUnit XML ({e})")
        return counts, failed
    suites = [s for s in root.iter("testsuite")] or [root]
    for suite in suites:
        for case in suite.findall("testcase"):
            _count(case, suite, path, counts, failed)
    return counts, failed


def _count(case: ET.Element, suite: ET.Element, path: Path, counts: dict[str, int],
           failed: list[str]) -> None:
    kind = classify(case)
    counts[kind] += 1
    if kind == "failed":
        name = f"{case.get('classname', '')}.{case.get('name', '')}".strip(".")
        if not name:
            # GoogleTest reports a failing global environment as an unnamed case.
            name = f"{path.stem}: {suite.get('name') or '(global setup)'}"
        node = case.find("failure")
        if node is None:
            node = case.find("error")
        msg = (node.get("message") or node.text or "").strip().splitlines()
        failed.append(f"{name}: {msg[0][:160] if msg else ''}")


def main(argv: list[str]) -> int:
    files: list[Path] = []
    for a in argv:
        p = Path(a)
        if p.is_dir():
            files += sorted(p.rglob("*.xml"))
        elif p.exists():
            files.append(p)
    total = {"passed": 0, "failed": 0, "skipped": 0}
    all_failed: list[str] = []
    for f in files:
        counts, failed = summarize(f)
        for k in total:
            total[k] += counts[k]
        line = f"{f.name}: {counts['passed']} passed, {counts['failed']} failed"
        if counts["skipped"]:
            line += f", {counts['skipped']} skipped"
        print(line)
        all_failed += failed
    if all_failed:
        print("failed:")
        for name in all_failed[:100]:
            print(f"  {name}")
        if len(all_failed) > 100:
            print(f"  ... and {len(all_failed) - 100} more")
    last = f"{total['passed']} passed, {total['failed']} failed"
    if total["skipped"]:
        last += f", {total['skipped']} skipped"
    print(last, flush=True)
    if total["failed"]:
        return 1
    if total["passed"] + total["skipped"] == 0:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
