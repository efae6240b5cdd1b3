"""make docs: the links of README.md, docs/ and the Serverless Application
Repository's readme lead somewhere, and every file in docs/ can be reached.

    python3 tools/check_docs.py              check the project's pages
    python3 tools/check_docs.py --self-test  check the checker on broken pages of its own

The pages are README.md, every .md file under docs/, and the readme that
template.yaml's ReadmeUrl names. In each page:
- a relative link, [text](path), [text](path#anchor) or [text](#anchor) (an
  image or a reference definition too), names a file or folder of the project,
  and its anchor names a heading of that page, slugged as GitHub does:
  lowercase, punctuation other than '-' and '_' removed, each space a '-', a
  repeated heading's anchor followed by -1, -2...; a source file's anchor is a
  line, #L12 or #L12-L20;
- a link to the project's own pages on GitHub (template.yaml's HomePageUrl
  followed by /blob/<branch>/path or /tree/<branch>/path) is checked the same way.
The SAR readme is shown alone on the repository's page, where a relative link
leads nowhere, so it links with full URLs only, and to HomePageUrl at least
once. Every file under docs/ must be linked from README.md, directly or through
pages it links to.

Links in code (fenced blocks, `spans`) are not links; headings are the `#` kind
only. Each failure is printed as file:line, the link and why, and the exit
status is 1. Standard library only.
"""

from __future__ import annotations

import difflib
import re
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
HTML_ANCHOR = re.compile(r"<a\s[^>]*\b(?:name|id)=\"([^\"]+)\"")
# [text](url "title"): the text may hold [brackets] and wrap onto the next
# line, not across a blank one; the url may hold one level of parentheses.
LINK = re.compile(
    r"\[(?:[^\[\]\n]|\n(?![ \t]*\n)|\[[^\[\]\n]*\])*\]"
    r"\(\s*<?((?:[^()\s<>]|\([^()\s]*\))*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$", re.M)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")
LINE_ANCHOR = re.compile(r"L\d+(-L\d+)?")


def without_fences(text: str) -> str:
    """The text with fenced code blocks blanked (the same lines)."""
    lines, fence = text.split("\n"), None
    for i, line in enumerate(lines):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            lines[i] = ""
        elif fence is not None:
            # Closed by a run of the same character, at least as long, alone on its line.
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                if not line.strip(fence[0] + " \t"):
                    fence = None
            lines[i] = ""
    return "\n".join(lines)


def prose(text: str) -> str:
    """The text with fenced code blocks and code spans blanked (the same lines)."""
    text = without_fences(text)
    # A code span: a run of n backticks up to the next run of exactly n, within
    # a paragraph (no blank line between).
    out, i = [], 0
    while i < len(text):
        if text[i] != "`":
            out.append(text[i])
            i += 1
            continue
        n = len(text[i:]) - len(text[i:].lstrip("`"))
        closing = re.compile(r"(?<!`)`{%d}(?!`)" % n).search(text, i + n)
        if closing and not re.search(r"\n[ \t]*\n", text[i : closing.start()]):
            out.append(re.sub(r"[^\n]", " ", text[i : closing.end()]))
            i = closing.end()
        else:
            out.append(text[i : i + n])
            i += n
    return "".join(out)


def slug(heading: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image: its text
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> list[str]:
    seen: dict[str, int] = {}
    found = []
    for line in without_fences(page.read_text()).split("\n"):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2) or "")
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.append(base if count == 0 else f"{base}-{count}")
        found += HTML_ANCHOR.findall(line)
    return found


def template_metadata(root: Path) -> tuple[str | None, str | None]:
    """ReadmeUrl and HomePageUrl, read as text (they are plain values there)."""
    template = root / "template.yaml"
    if not template.is_file():
        return None, None
    text = template.read_text()
    values = [re.search(rf"^\s+{key}:\s*(\S+)\s*$", text, re.M) for key in ("ReadmeUrl", "HomePageUrl")]
    return tuple(m.group(1).strip("\"'") if m else None for m in values)


def links(page: Path) -> list[tuple[int, str]]:
    text = prose(page.read_text())
    found = [(m.start(1), m.group(1)) for m in LINK.finditer(text)]
    found += [(m.start(1), m.group(1)) for m in REFERENCE.finditer(text)]
    return sorted((text.count("\n", 0, at) + 1, href) for at, href in found)


def check(root: Path) -> list[str]:
    root = root.resolve()
    readme_url, home = template_metadata(root)
    sar = (root / readme_url).resolve() if readme_url else None
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    if sar and sar not in pages:
        pages.append(sar)
    problems: list[str] = []
    reached: dict[Path, set[Path]] = {}
    anchor_cache: dict[Path, list[str]] = {}

    def name(path: Path) -> str:
        return str(path.relative_to(root))

    if sar and not sar.is_file():
        problems.append(f"template.yaml: ReadmeUrl {readme_url}: no such file")
    for page in pages:
        if not page.is_file():
            problems.append(f"{name(page)}: no such file")
            continue
        reached[page] = set()
        for line, href in links(page):
            where = f"{name(page)}:{line}: link ({href})"
            if home and re.match(re.escape(home.rstrip("/")) + r"/(blob|tree)/[^/]+/", href):
                # The project's own page on GitHub: from the repository's root.
                target_text = "/" + href[len(home.rstrip("/")) :].split("/", 3)[3]
            elif SCHEME.match(href):
                continue
            elif page == sar and not href.startswith("#"):
                problems.append(
                    f"{where}: the SAR page shows this file alone, where a relative link leads nowhere: "
                    f"link to {home or 'HomePageUrl'}/blob/main/<path> instead"
                )
                continue
            else:
                target_text = href
            path_text, _, anchor = target_text.partition("#")
            path_text = unquote(path_text.split("?")[0])
            if not path_text:
                target = page
            elif path_text.startswith("/"):
                target = (root / path_text.lstrip("/")).resolve()
            else:
                target = (page.parent / path_text).resolve()
            if target != root and root not in target.parents:
                problems.append(f"{where}: leads out of the project")
                continue
            if not target.exists():
                problems.append(f"{where}: no such file or folder {name(target)}")
                continue
            reached[page].add(target)
            if not anchor:
                continue
            if target.suffix == ".md" and target.is_file():
                if target not in anchor_cache:
                    anchor_cache[target] = anchors(target)
                if anchor not in anchor_cache[target]:
                    near = difflib.get_close_matches(anchor, anchor_cache[target], n=1)
                    hint = f" (nearest: #{near[0]})" if near else ""
                    problems.append(f"{where}: {name(target)} has no heading #{anchor}{hint}")
            elif not (target.is_file() and LINE_ANCHOR.fullmatch(anchor)):
                problems.append(f"{where}: #{anchor} is not a heading or a line of {name(target)}")

    if sar and sar.is_file() and home and not any(href.startswith(home) for _, href in links(sar)):
        problems.append(f"{name(sar)}: no link to the full documentation, template.yaml's HomePageUrl {home}")

    # Every file under docs/, reached from README.md through the pages' links.
    seen, todo = set(), [root / "README.md"]
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        todo += [t for t in reached.get(page, ()) if t.is_file()]
    docs = root / "docs"
    for path in sorted(docs.rglob("*") if docs.is_dir() else ()):
        if path.is_file() and path.resolve() not in seen:
            problems.append(f"{name(path)}: not linked from README.md, directly or through the pages it links to")
    return problems


# -- the checker's own test ------------------------------------------------------

SAR_LINKS = (
    "[Home](https://github.com/owner/project),"
    " [the guide](https://github.com/owner/project/blob/main/docs/guide.md#dup)"
)
GOOD = {
    "README.md": (
        "# Project\n"
        "\n"
        "## A heading, with `code` and punctuation: (yes)!\n"
        "\n"
        "See [the guide](docs/guide.md), [its second part](docs/guide.md#part-two-in-detail),\n"
        "[this heading](#a-heading-with-code-and-punctuation-yes), [a line](src/main.rs#L2)\n"
        "and [a link whose text\n"
        "wraps](docs/guide.md#dup-1).\n"
        "\n"
        "```sh\n"
        "[not a link](nowhere.md)\n"
        "```\n"
        "\n"
        "Nor is `[this](nowhere.md)`, or ``[this](nowhere.md#x) with a ` inside``.\n"
    ),
    "docs/guide.md": (
        "# Guide\n"
        "\n"
        "## Part two, in detail\n"
        "\n"
        "## Dup\n"
        "\n"
        "## Dup\n"
        "\n"
        "Back to [the project](../README.md#project); the [SAR page](sar.md).\n"
    ),
    "docs/sar.md": (
        "# For the Serverless Application Repository\n"
        "\n"
        f"{SAR_LINKS},\n"
        "[elsewhere](https://example.com/x.md#y), [here](#for-the-serverless-application-repository).\n"
    ),
    "src/main.rs": "fn main() {\n}\n",
    "template.yaml": (
        "Metadata:\n"
        "  AWS::ServerlessRepo::Application:\n"
        "    ReadmeUrl: docs/sar.md\n"
        "    HomePageUrl: https://github.com/owner/project\n"
    ),
}

# What breaks: (in which file, the text replaced, its replacement, what the one
# failure must say).
BROKEN = {
    "a link to a missing file": ("README.md", "(docs/guide.md)", "(docs/gide.md)", ["README.md:5:", "docs/gide.md"]),
    "an anchor missing in another file": ("README.md", "#part-two-in-detail", "#part-two", ["README.md:5:", "#part-"]),
    "an anchor missing in the same file": ("README.md", "#a-heading-with-code", "#a-heading-with", ["README.md:6:"]),
    "a repeated heading's anchor": ("README.md", "#dup-1", "#dup-2", ["README.md:8:", "#dup-2"]),
    "a source line that is no line": ("README.md", "#L2", "#main", ["README.md:6:", "#main"]),
    "a link back out of docs/": ("docs/guide.md", "README.md#project", "README.md#projects", ["docs/guide.md:9:"]),
    "a link that leaves the project": ("docs/guide.md", "../README.md", "../../README.md", ["guide.md:9:", "out of"]),
    "a file of docs/ linked from nowhere": ("docs/guide.md", "[SAR page](sar.md)", "SAR page", ["sar.md: not linked"]),
    "a relative link in the SAR readme": (
        "docs/sar.md",
        "https://github.com/owner/project/blob/main/docs/guide.md#dup",
        "guide.md#dup",
        ["docs/sar.md:3:", "relative"],
    ),
    "the SAR readme's link to a missing page": (
        "docs/sar.md",
        "blob/main/docs/guide.md",
        "blob/main/docs/guides.md",
        ["docs/sar.md:3:", "docs/guides.md"],
    ),
    "the SAR readme without a link to HomePageUrl": ("docs/sar.md", SAR_LINKS, "Home", ["no link", "HomePageUrl"]),
}


def self_test() -> int:
    failures = []

    def run(files: dict[str, str]) -> list[str]:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "project"
            for relative, text in files.items():
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                (root / relative).write_text(text)
            return check(root)

    good = run(GOOD)
    if good:
        failures.append(f"the good pages fail: {good}")
    for what, (file, old, new, expected) in BROKEN.items():
        assert old in GOOD[file], (what, old)
        problems = run(GOOD | {file: GOOD[file].replace(old, new, 1)})
        if len(problems) != 1 or not all(e in problems[0] for e in expected):
            failures.append(f"{what}: expected one failure saying {expected}, got {problems}")
    assert slug("Alarms, and what to do for each") == "alarms-and-what-to-do-for-each"
    assert slug("`make demo`: the story") == "make-demo-the-story"
    assert slug("snake_case and kebab-case") == "snake_case-and-kebab-case"
    for failure in failures:
        print(f"check_docs self-test: {failure}", file=sys.stderr)
    if failures:
        return 1
    print(f"check_docs self-test: the good pages pass, and each of {len(BROKEN)} broken ones fails as it should")
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(ROOT)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check_docs: {len(problems)} broken link(s) or unlinked file(s)", file=sys.stderr)
        return 1
    readme_url, _ = template_metadata(ROOT)
    pages = {ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *([ROOT / readme_url] if readme_url else [])}
    count = sum(len(links(page)) for page in pages)
    print(
        f"check_docs: {len(pages)} page(s), {count} links: those into the project lead to files and headings"
        " that exist, and every file in docs/ is linked"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
