"""The figures table of the stack tests, as docs/evidence.md shows it, and the
line naming the run they come from (as tests/support/figures.rs writes it),
for target/figures/, which tools/check_figures.py compares with the docs."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCENARIO_NAMES = {
    "django": "Django collectstatic twice",
    "sync": "aws s3 sync --delete",
    "burst": "burst (aws s3 cp --recursive)",
    "configuration": "what a distribution's configuration says (aws s3 sync)",
}


ORDER = {name: i for i, name in enumerate(["django", "sync", "burst", "configuration", "bucket-to-function",
                                             "bucket-to-queue", "existing-bucket", "listed", "auto", "query-strings",
                                             "wrong-origin-path", "other-bucket"])}


def table(figures) -> str:
    figures = sorted(figures, key=lambda f: (ORDER[f.scenario], ORDER[f.wiring], ORDER[f.distributions]))
    rows = [
        "| scenario | wiring | distributions | S3 events | invocations (of them watching) | stale without the function "
        "| stale after its invalidations | invalidation requests | paths billed |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in figures:
        after = str(f.stale_after - f.stale_known)
        if f.stale_known:
            after += f" (+{f.stale_known} `~`, see finding)"
        rows.append(
            f"| {SCENARIO_NAMES[f.scenario]} | {f.wiring} | {f.distributions} | {f.events} | {f.invocations} ({f.watch_invocations}) "
            f"| {f.stale_without} of {f.responses} | {after} | {f.requests} | {f.paths} |"
        )
    return "\n".join(rows)


def run_line(command: str) -> str:
    """`<!-- run <time>: <command>, <machine>, commit <commit> -->`."""
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.exists() else []
    cpu = models[0] if models else platform.processor() or "unknown CPU"
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=7"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    when = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())
    return f"<!-- run {when}: {command}, {cpu} ({os.cpu_count()} cores), commit {commit} -->"


def keep(name: str, command: str, text: str) -> None:
    """Writes target/figures/<name>: the run's line, then `text`."""
    (ROOT / "target/figures").mkdir(parents=True, exist_ok=True)
    (ROOT / "target/figures" / name).write_text(f"{run_line(command)}\n\n{text.rstrip()}\n")
