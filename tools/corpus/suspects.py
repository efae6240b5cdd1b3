#!/usr/bin/env python3
"""Score naive hash rules against the corpus: which plain names each rule
would wrongly skip (the harmful error: the file stays stale) and which
hashed names it misses (the harmless one: an extra invalidation).

    python3 tools/corpus/suspects.py [--list RULE | --stats]

Reads tests/fixtures/file-names/{plain,hashed}.txt (or $CORPUS_FIXTURES/). Standard library only.
The rules are deliberately naive shapes, not proposals; SHAPES.md explains
why each flagged plain name is not a hash.
"""

import os
import re
import sys
from pathlib import Path

FIXTURES = Path(os.environ.get("CORPUS_FIXTURES") or Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "file-names")


def load(name):
    rows = []
    for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


def base(key):
    return key.rsplit("/", 1)[-1]


def today(key):
    """src/filter.rs content_hash() as of this corpus (the rule being replaced)."""
    name = base(key)
    if name == "staticfiles.json":
        return False
    tokens = name.split(".")
    if len(tokens) < 2:
        return False

    def is_hash(t):
        return (len(t) >= 8 and re.fullmatch(r"[A-Za-z0-9_]+", t) is not None
                and re.search(r"[0-9]", t) is not None and re.search(r"[A-Za-z]", t) is not None)

    def is_django(t):
        return re.fullmatch(r"[0-9a-f]{12}", t) is not None

    for i, t in enumerate(tokens[:-1]):
        dashed = t.rsplit("-", 1)[1] if "-" in t else None
        if dashed is not None and is_hash(dashed):
            return True
        if i > 0 and (is_hash(t) or is_django(t)):
            return True
    return False


RULES = {
    "today": today,
    # any run of 8+ lowercase hex characters delimited by . - _ or the name's start
    "hex8": lambda k: re.search(r"(^|[._-])[0-9a-f]{8,}(?=[._-])", base(k)) is not None,
    # Django / Parcel / CRA shape: .<hex>. with 8, 12, 16 or 20 digits
    "dot-hex": lambda k: re.search(r"\.([0-9a-f]{8}|[0-9a-f]{12}|[0-9a-f]{16}|[0-9a-f]{20})\.", base(k)) is not None,
    # Vite / Rollup 4 shape: -<8 base64url>.ext (any 8 of A-Z a-z 0-9 _ -)
    "dash-b64-8": lambda k: re.search(r"-[A-Za-z0-9_-]{8}\.[^.]+$", base(k)) is not None,
    # esbuild shape: -<8 base32 uppercase>.ext
    "dash-b32-8": lambda k: re.search(r"-[A-Z2-7]{8}\.[^.]+$", base(k)) is not None,
    # Turbopack shape: a 13-char [0-9a-z_-] stem or dot-delimited token before the extension
    "b38-13": lambda k: re.search(r"(^|\.)[0-9a-z_-]{13}\.[a-z0-9]+$", base(k)) is not None,
}


def stats(hashed):
    """Per tool: hash lengths, characters seen, and the awkward cases."""
    by_tool = {}
    for _k, h, t in hashed:
        by_tool.setdefault(t, []).append(h)
    print(f"{'tool':48} {'n':>4} {'len':>6} {'chars seen':22} {'no digit':>8} {'no letter':>9} {'has - or _':>10}")
    for t, hs in by_tool.items():
        lens = sorted({len(h) for h in hs})
        chars = set("".join(hs))
        seen = "".join(
            label for label, test in [
                ("0-9", lambda c: c.isdigit()), ("a-f", lambda c: c in "abcdef"),
                ("g-z", lambda c: "g" <= c <= "z"), ("A-Z", lambda c: c.isupper()),
                ("_", lambda c: c == "_"), ("-", lambda c: c == "-"),
            ] if any(test(c) for c in chars)
        )
        no_digit = sum(1 for h in hs if not re.search(r"[0-9]", h))
        no_letter = sum(1 for h in hs if not re.search(r"[A-Za-z]", h))
        dash = sum(1 for h in hs if re.search(r"[-_]", h))
        print(f"{t:48} {len(hs):>4} {','.join(map(str, lens)):>6} {seen:22} {no_digit:>8} {no_letter:>9} {dash:>10}")


def main():
    plain = [r[0] for r in load("plain.txt")]
    hashed = load("hashed.txt")
    if sys.argv[1:] == ["--stats"]:
        stats(hashed)
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--list":
        rule = RULES[sys.argv[2]]
        for k in plain:
            if rule(k):
                print(k)
        return
    print(f"{'rule':12} {'plain wrongly skipped':>22} {'hashed missed':>14}   (of {len(plain)} plain, {len(hashed)} hashed)")
    for name, rule in RULES.items():
        fp = sum(1 for k in plain if rule(k))
        fn = sum(1 for k, _h, _t in hashed if not rule(k))
        print(f"{name:12} {fp:>22} {fn:>14}")


if __name__ == "__main__":
    main()
