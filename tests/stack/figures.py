"""The figures table of the stack tests, as docs/evidence.md shows it."""

from __future__ import annotations

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
