"""make figures: each figure README.md and docs/ attribute to a command is what
that command printed, as it left it in target/figures/.

    python3 tools/check_figures.py              check the project's pages
    python3 tools/check_figures.py --self-test  check the checker on pages of its own

A page marks the figures a command printed with an HTML comment, which GitHub
does not show:

    <!-- figures: bench.md, run 2026-12-07T06:10Z -->
    | a table | ... |        the table right below the comment is the table of
                               target/figures/bench.md with the same header, row
                               for row and cell for cell

    <!-- figures: filter-corpus.hashed.txt: "502 of 594" "84.5%" -->
    A paragraph ...            each quoted text is in that output, and in the
                               paragraph (or code block) right below the
                               comment

Each output starts with the run it comes from, `<!-- run <time>: <command>,
<machine>, commit <commit> -->` (tests/support/figures.rs writes it). `run
<time>` in a page's comment cites the run its figures were copied from. When
the output is that run, every cell must match. When it is another (the
command ran again since), cells that are timings or sizes (a number followed
by ns, µs, ms, s, min, KiB, MiB or GiB) are not compared, as they change from
run to run, but every other cell still must. A table that cites no run is
compared whole. An output that is not there yet (its command has not run
here) is listed, not checked: `make test` makes the outputs of the fuzz-free
commands it runs (tests/filter_corpus.rs, the simulation's fixed seeds, the
stack tests) before it checks, `make bench` and `make simulate` make theirs.

Each failure is printed as file:line and why; the exit status is then 1.
Standard library only.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "target" / "figures"

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
MARKER = re.compile(
    r"^<!--\s*figures:\s*(?P<file>[\w.-]+)(?:,\s*run\s+(?P<run>[^\s:]+(?::\d\d)*Z?))?"
    r"(?::\s*(?P<quotes>\".*\"))?\s*-->\s*$"
)
RUN = re.compile(r"^<!--\s*run\s+(?P<run>\S+):\s+(?P<what>.*?)\s*-->\s*$")
QUOTE = re.compile(r"\"([^\"]+)\"")
SEPARATOR = re.compile(r"^:?-{3,}:?$")
MEASURED = re.compile(r"^[\d.,]+\s*(ns|µs|us|ms|s|min|KiB|MiB|GiB)\b")


def pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def normal(text: str) -> str:
    return " ".join(text.split())


def cells(line: str) -> list[str]:
    """The cells of a table row, `\\|` kept as a literal bar."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [normal(c.replace("\0", "|")) for c in body.replace("\\|", "\0").split("|")]


def tables(lines: list[str]) -> list[tuple[int, list[list[str]]]]:
    """Each table of `lines`: (index of its first line, its rows without the separator)."""
    found, rows, start = [], [], 0
    for i, line in enumerate([*lines, ""]):
        if line.lstrip().startswith("|"):
            if not rows:
                start = i
            row = cells(line)
            if not all(SEPARATOR.match(c) for c in row if c):
                rows.append(row)
        elif rows:
            found.append((start, rows))
            rows = []
    return found


def unfenced(text: str) -> list[str]:
    """The lines of a page, those of fenced code blocks blanked."""
    lines, fence = text.split("\n"), None
    for i, line in enumerate(lines):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            lines[i] = ""
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
            lines[i] = ""
    return lines


class Output:
    """One command's output in target/figures."""

    def __init__(self, path: Path):
        self.path = path
        text = path.read_text(encoding="utf-8")
        first = text.split("\n", 1)[0]
        match = RUN.match(first)
        self.run = match.group("run") if match else None
        self.what = match.group("what") if match else "no run line"
        self.text = normal(text)
        self.tables = tables(text.split("\n"))


def check(root: Path, figures: Path) -> tuple[list[str], list[str]]:
    """(failures, notes) for the pages under `root` against the outputs in `figures`."""
    failures: list[str] = []
    checked: dict[str, int] = {}
    absent: dict[str, int] = {}
    outputs: dict[str, Output | None] = {}
    for page in pages(root):
        if not page.exists():
            continue
        name = page.relative_to(root).as_posix()
        raw = page.read_text(encoding="utf-8")
        lines, raw_lines = unfenced(raw), raw.split("\n")
        for i, line in enumerate(lines):
            if "figures:" not in line:
                continue
            marker = MARKER.match(line.strip())
            where = f"{name}:{i + 1}"
            if not marker:
                failures.append(f"{where}: a figures comment the checker cannot read: {line.strip()}")
                continue
            file = marker.group("file")
            if file not in outputs:
                path = figures / file
                outputs[file] = Output(path) if path.exists() else None
            output = outputs[file]
            if output is None:
                absent[file] = absent.get(file, 0) + 1
                continue
            checked[file] = checked.get(file, 0) + 1
            if marker.group("quotes"):
                failures += check_quotes(where, raw_lines[i + 1:], QUOTE.findall(marker.group("quotes")), output)
            else:
                failures += check_table(where, lines[i + 1:], marker.group("run"), output)
    notes = [
        f"checked: {n} figure(s) against target/figures/{f} ({outputs[f].what})"  # type: ignore[union-attr]
        for f, n in sorted(checked.items())
    ]
    notes += [
        f"not checked: target/figures/{f} is not there yet ({n} figure(s) cite it; run the command that makes it)"
        for f, n in sorted(absent.items())
    ]
    return failures, notes


def check_quotes(where: str, after: list[str], quotes: list[str], output: Output) -> list[str]:
    paragraph = []
    for line in after:
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line)
    paragraph_text = normal(" ".join(paragraph))
    failures = []
    for quote in quotes:
        if normal(quote) not in output.text:
            failures.append(f"{where}: {quote!r} is not in target/figures/{output.path.name} ({output.what})")
        if normal(quote) not in paragraph_text:
            failures.append(f"{where}: {quote!r} is not in the paragraph below the comment")
    return failures


def check_table(where: str, after: list[str], cited: str | None, output: Output) -> list[str]:
    # The table starts on the next line, or after one blank line.
    start = 0
    while start < len(after) and start < 2 and not after[start].lstrip().startswith("|"):
        start += 1
    found = tables(after[start:])
    if start >= len(after) or not found or found[0][0] != 0:
        return [f"{where}: no table right below the figures comment"]
    rows = found[0][1]
    same = [t for _, t in output.tables if t[0] == rows[0]]
    if not same:
        headers = "\n    ".join(" | ".join(t[0]) for _, t in output.tables)
        return [
            f"{where}: target/figures/{output.path.name} ({output.what}) has no table headed\n"
            f"    {' | '.join(rows[0])}\n  its tables are headed\n    {headers}"
        ]
    theirs = same[0]
    exact = cited is None or cited == output.run
    failures = []
    if len(theirs) != len(rows):
        failures.append(
            f"{where}: {len(rows) - 1} row(s), target/figures/{output.path.name} ({output.what}) has {len(theirs) - 1}"
        )
    for r, (ours, their) in enumerate(zip(rows[1:], theirs[1:]), start=1):
        if len(ours) != len(their):
            failures.append(f"{where}: row {r} has {len(ours)} cells, the output's {len(their)}")
            continue
        for column, a, b in zip(rows[0], ours, their):
            if a == b or (not exact and MEASURED.match(a) and MEASURED.match(b)):
                continue
            failures.append(
                f"{where}: row {r} ({ours[0]}), {column}: the page says {a!r}, "
                f"target/figures/{output.path.name} ({output.what}) says {b!r}"
            )
    return failures


def self_test() -> int:
    """The checker against pages and outputs of its own: each broken figure is found."""
    run_line = "<!-- run 2026-01-02T03:04Z: make bench, a CPU (2 cores), commit abc1234 -->"
    output = f"""{run_line}

| burst | calls | wall time |
| --- | ---: | ---: |
| direct | 1000 | 4.67 s |
| queue | 1 | 0.03 s |

| size | bytes |
| --- | ---: |
| bootstrap | 3.80 MiB (3988456 bytes) |
"""
    good_table = """| burst | calls | wall time |
| --- | ---: | ---: |
| direct | 1000 | 4.67 s |
| queue | 1 | 0.03 s |
"""
    cases = {
        # name: (page, failures expected)
        "the same run, the same table": (f"<!-- figures: bench.md, run 2026-01-02T03:04Z -->\n{good_table}", 0),
        "a blank line after the comment": (f"<!-- figures: bench.md, run 2026-01-02T03:04Z -->\n\n{good_table}", 0),
        "no run cited, the same table": (f"<!-- figures: bench.md -->\n{good_table}", 0),
        "a count changed": (f"<!-- figures: bench.md -->\n{good_table.replace('| 1000 |', '| 999 |')}", 1),
        "a time changed, the same run": (
            f"<!-- figures: bench.md, run 2026-01-02T03:04Z -->\n{good_table.replace('4.67 s', '4.12 s')}",
            1,
        ),
        "a time changed, another run": (
            f"<!-- figures: bench.md, run 2025-12-31T23:59Z -->\n{good_table.replace('4.67 s', '4.12 s')}",
            0,
        ),
        "a count changed, another run": (
            f"<!-- figures: bench.md, run 2025-12-31T23:59Z -->\n{good_table.replace('| 1 |', '| 2 |')}",
            1,
        ),
        "a time changed, no run cited": (f"<!-- figures: bench.md -->\n{good_table.replace('0.03 s', '0.04 s')}", 1),
        "a row too few": (f"<!-- figures: bench.md -->\n{good_table.rsplit('| queue', 1)[0]}", 1),
        "a header nobody prints": (f"<!-- figures: bench.md -->\n{good_table.replace('| calls |', '| requests |')}", 1),
        "no table below": ("<!-- figures: bench.md -->\nSome words.\n", 1),
        "a size, another run": (
            "<!-- figures: bench.md, run 2025-12-31T23:59Z -->\n| size | bytes |\n| --- | ---: |\n"
            "| bootstrap | 3.79 MiB (3988000 bytes) |\n",
            0,
        ),
        "quotes in the output and the paragraph": (
            '<!-- figures: bench.md: "1000" "3988456 bytes" -->\nIt made 1000 calls,\nand 3988456 bytes.\n',
            0,
        ),
        "quotes in a code block": (
            '<!-- figures: bench.md: "1000" -->\n```\n[ 1.0s] 1000 calls\n```\n',
            0,
        ),
        "a quote the output lacks": ('<!-- figures: bench.md: "1001" -->\nIt made 1001 calls.\n', 1),
        "a quote the paragraph lacks": ('<!-- figures: bench.md: "1000" -->\nIt made many calls.\n\n1000\n', 1),
        "an output not made yet": (f"<!-- figures: simulate.md -->\n{good_table}", 0),
        "a comment in a code block": (f"```\n<!-- figures: bench.md -->\n| x |\n```\n", 0),
        "a comment the checker cannot read": ("<!-- figures: bench.md; run soon -->\n| x |\n", 1),
    }
    wrong = 0
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures"
        figures.mkdir()
        (figures / "bench.md").write_text(output, encoding="utf-8")
        for name, (page, expected) in cases.items():
            root = Path(tmp) / "project"
            (root / "docs").mkdir(parents=True, exist_ok=True)
            (root / "README.md").write_text("# x\n", encoding="utf-8")
            (root / "docs" / "page.md").write_text(page, encoding="utf-8")
            failures, notes = check(root, figures)
            if len(failures) != expected:
                wrong += 1
                print(f"self-test: {name}: {len(failures)} failure(s), expected {expected}: {failures}")
            if name == "an output not made yet" and not any("simulate.md" in n for n in notes):
                wrong += 1
                print(f"self-test: {name}: not listed: {notes}")
    if wrong:
        print(f"check_figures.py --self-test: {wrong} case(s) wrong")
        return 1
    print(f"check_figures.py --self-test: {len(cases)} cases, each as expected")
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    if argv[1:]:
        print(__doc__)
        return 2
    failures, notes = check(ROOT, FIGURES)
    for note in notes:
        print(note)
    for failure in failures:
        print(failure)
    if failures:
        print(
            f"{len(failures)} figure(s) differ from what their command printed: copy them from "
            "target/figures/ (and cite the run), or run the command again"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
