#!/usr/bin/env python3
"""Write tests/fixtures/file-names/{plain,hashed}.txt from a work dir that
build.sh has filled (installed packages, tool outputs).

    python3 collect.py WORK OUT_DIR

Every build output is matched against the naming template its tool was
run with (PATTERNS below). A file that matches no template and is not one
of the run's known unhashed files stops the script: a tool that changed
its names must be looked at, not silently sorted.

Standard library only, so any Python 3.9+ runs it.
"""

import json
import math
import os
import re
import struct
import sys
import zipfile
from pathlib import Path

WORK = Path(sys.argv[1]).resolve()
OUT = Path(sys.argv[2]).resolve()

PLAIN_NM = WORK / "plain" / "node_modules"
APPS = WORK / "apps"


def files_under(root):
    """Relative POSIX paths of the regular files under root, sorted."""
    root = Path(root)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def npm_version(node_modules, name):
    return json.loads((Path(node_modules) / name / "package.json").read_text())["version"]


# ---------------------------------------------------------------------------
# plain.txt
# ---------------------------------------------------------------------------

plain_sections = []  # (comment lines, keys)


def add_plain(comments, keys):
    if isinstance(comments, str):
        comments = [comments]
    plain_sections.append((comments, list(keys)))


# Names from the bug report: today's rule skips every one of them.
BUG_REPORT = [
    "og-image-1200x630.png",
    "photo-1024x683.jpg",
    "hero-1920x1080.jpg",
    "products/sku-AB123456.html",
    "show-episode42.mp3",
    "post-part2of3.html",
    "lato-v24-latin-700italic.woff2",
    "orders.202611251230.csv",
    "settings.staging2.json",
]
add_plain("# source: bug report: names today's rule wrongly skips (kept exactly as reported)", BUG_REPORT)

# google-webfonts-helper names: `{font-id}-{version}-{subset}-{variant}.{ext}`.
# No npm or PyPI package was found that ships files named this way (searched
# the public-code index and opened sphinx-rtd-theme, pydata-sphinx-theme,
# sphinx-wagtail-theme, wagtail and mkdocs wheels), so these are names that
# public repositories reference in their @font-face rules and preload tags.
GWFH = [
    "fonts/lato-v24-latin-regular.woff2",
    "fonts/lato-v24-latin-regular.woff",
    "fonts/lato-v24-latin-italic.woff2",
    "fonts/lato-v24-latin-italic.woff",
    "fonts/lato-v24-latin-700.woff2",
    "fonts/lato-v24-latin-700.woff",
    "fonts/lato-v24-latin-700italic.woff2",
    "fonts/lato-v24-latin-700italic.woff",
    "fonts/lato-v20-latin-regular.woff2",
    "fonts/lato-v22-latin-regular.woff2",
    "fonts/lato-v24-latin-ext-regular.woff2",
    "fonts/lato-v24-latin-ext-700.woff2",
    "fonts/open-sans-v34-latin-regular.woff2",
    "fonts/open-sans-v34-latin-700.woff2",
    "fonts/open-sans-v27-latin-regular.woff",
    "fonts/roboto-v30-latin-100.woff2",
    "fonts/roboto-v30-latin-300.woff2",
    "fonts/roboto-v30-latin-regular.woff2",
    "fonts/roboto-v30-latin-700.woff2",
    "fonts/roboto-condensed-v25-latin-regular.woff2",
    "fonts/roboto-condensed-v24-latin-700italic.woff2",
    "fonts/nunito-v25-latin-ext-regular.woff2",
    "fonts/poppins-v24-latin-600italic.woff2",
    "fonts/poppins-v24-latin-700.woff2",
    "fonts/poppins-v24-latin-800italic.woff2",
    "fonts/montserrat-v24-latin-italic.woff2",
    "fonts/montserrat-v24-latin-700italic.woff2",
    "fonts/jetbrains-mono-v24-latin-600italic.woff2",
    "fonts/noto-serif-display-v24-latin-700italic.woff2",
    "fonts/noto-serif-display-v24-latin-700.ttf",
    "fonts/mulish-v13-latin-regular.woff2",
]
add_plain(
    [
        "# source: google-webfonts-helper naming ({font}-{version}-{subset}-{variant}.{ext}); no npm/PyPI",
        "# package found that ships such files, so these are names referenced by public repositories' CSS",
    ],
    GWFH,
)


# --- npm packages -----------------------------------------------------------

WEB_EXT = {
    "js", "mjs", "cjs", "css", "map", "svg", "png", "jpg", "jpeg", "gif", "webp", "avif", "ico",
    "woff", "woff2", "ttf", "eot", "otf", "html", "json", "xml", "txt", "gz",
}


def is_web(path):
    name = path.rsplit("/", 1)[-1]
    if name in ("package.json", "bower.json", "composer.json") or name.endswith(".d.ts"):
        return False
    return "." in name and name.rsplit(".", 1)[1].lower() in WEB_EXT


def interesting(path):
    """Names most likely to fool a hash rule: a digit, a capital or an underscore."""
    name = path.rsplit("/", 1)[-1]
    return bool(re.search(r"[0-9A-Z_]", name))


def every(items, cap):
    """A deterministic, evenly spread pick of at most cap items."""
    items = sorted(items)
    if cap is None or len(items) <= cap:
        return items
    step = len(items) / cap
    return [items[math.floor(i * step)] for i in range(cap)]


def npm_source(pkg, subdirs, prefix=None, odd_cap=None, other_cap=None, only_odd=False, exclude=None):
    """Files of an npm package under subdirs (package-relative); key is
    vendor/<pkg>/<path in package> unless prefix says otherwise."""
    root = PLAIN_NM / pkg
    version = npm_version(PLAIN_NM, pkg)
    paths = []
    for sub in subdirs:
        base = root / sub
        if base.is_file():
            paths.append(sub)
            continue
        paths += [f"{sub}/{p}" if sub else p for p in files_under(base)]
    paths = [p for p in paths if is_web(p) and not (exclude and re.search(exclude, p))]
    odd = [p for p in paths if interesting(p)]
    other = [p for p in paths if not interesting(p)]
    picked = every(odd, odd_cap) + ([] if only_odd else every(other, other_cap))
    prefix = f"vendor/{pkg.lstrip('@')}/" if prefix is None else prefix
    keys = sorted(prefix + p for p in picked)
    how = "all web files" if odd_cap is None and other_cap is None and not only_odd else (
        f"names with a digit, capital or '_' ({len(every(odd, odd_cap))} of {len(odd)})"
        + ("" if only_odd else f" + an even spread of the rest ({len(every(other, other_cap))} of {len(other)})")
    )
    where = ", ".join(
        "(package root)" if not s else s if (root / s).is_file() else s + "/" for s in subdirs
    )
    add_plain(f"# source: npm {pkg}@{version} {where} ({how})", keys)


npm_source("bootstrap", ["dist"])
npm_source("jquery", ["dist"])
npm_source("htmx.org", ["dist"])
npm_source("alpinejs", ["dist"])
npm_source("leaflet", ["dist"])
npm_source("leaflet", ["src/geo/crs"])
npm_source("normalize.css", ["normalize.css"])
npm_source("chart.js", ["dist"], exclude=r"^dist/types/")
npm_source("swiper", [""], odd_cap=None, other_cap=60, exclude=r"^(react|shared|components-shared|core)/")
npm_source("tinymce", [""], odd_cap=None, other_cap=90)
npm_source("@fortawesome/fontawesome-free", ["css", "js", "webfonts"])
npm_source("@fortawesome/fontawesome-free", ["svgs"], odd_cap=None, other_cap=40)
npm_source("bootstrap-icons", ["font"])
npm_source("bootstrap-icons", ["icons"], odd_cap=120, other_cap=30)
npm_source("heroicons", ["16", "20", "24"], odd_cap=None, other_cap=30)
npm_source("feather-icons", ["dist"], odd_cap=None, other_cap=25)
npm_source("simple-icons", ["icons"], odd_cap=None, other_cap=30)
npm_source("flag-icons", ["css", "flags/4x3"])
npm_source("flag-icons", ["flags/1x1"], other_cap=40)
npm_source("@fontsource/lato", [""], exclude=r"\.json$")
npm_source("@fontsource/roboto", ["files"], odd_cap=80)
npm_source("roboto-fontface", ["css", "fonts"], exclude=r"/(less|sass)/")
npm_source("@mdi/font", ["css", "fonts"])
npm_source("govuk-frontend", ["dist/govuk"], exclude=r"^dist/govuk/(assets/fonts/|components/|common/|core/|helpers/|i18n|objects/|overrides/|settings/|tools/|utilities/|errors/|init|govuk-frontend\.min\.js\.map$)")
npm_source("reveal.js", ["dist", "css/theme/fonts"])
npm_source("caniuse-lite", ["data/features"], only_odd=True)
npm_source("core-js", ["modules"], only_odd=True)

# --- Python packages ----------------------------------------------------------

import django  # noqa: E402  (the venv's Django, pinned by build.sh)
import rest_framework  # noqa: E402

STATIC_ROOT = WORK / "django-out"
manifest = json.loads((STATIC_ROOT / "staticfiles.json").read_text())
hashed_django = set(manifest["paths"].values())
django_plain = [p for p in files_under(STATIC_ROOT) if p not in hashed_django]
add_plain(
    [
        f"# source: pip django=={django.get_version()} djangorestframework=={rest_framework.VERSION}: "
        "collectstatic (ManifestStaticFilesStorage) STATIC_ROOT, the unhashed originals it also",
        "# writes (admin, rest_framework, the tiny siteapp) and its manifest staticfiles.json; keys under static/",
    ],
    ["static/" + p for p in django_plain],
)

wheel = next((WORK / "wheels").glob("sphinx_rtd_theme-*.whl"))
rtd_version = wheel.name.split("-")[1]
with zipfile.ZipFile(wheel) as zf:
    rtd = sorted(
        n[len("sphinx_rtd_theme/static/"):]
        for n in zf.namelist()
        if n.startswith("sphinx_rtd_theme/static/") and not n.endswith("/") and is_web(n)
    )
add_plain(
    f"# source: pip sphinx-rtd-theme=={rtd_version} sphinx_rtd_theme/static/ (Sphinx copies it to _static/; keys under docs/_static/)",
    ["docs/_static/" + p for p in rtd],
)


# --- WordPress image sizes --------------------------------------------------------


def image_size(path):
    """(width, height) from a PNG, GIF or JPEG header, else None."""
    data = Path(path).read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i < len(data) - 9:
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + length
    return None


def php_round(x):
    return int(math.floor(x + 0.5))


def constrain(w, h, max_w, max_h):
    """wp_constrain_dimensions(): fit w x h in max_w x max_h (0 = no limit)."""
    if not max_w and not max_h:
        return w, h
    wr = max_w / w if max_w and w > max_w else 1.0
    hr = max_h / h if max_h and h > max_h else 1.0
    ratio = min(wr, hr)
    return php_round(w * ratio), php_round(h * ratio)


# WordPress's default sub-sizes (wp-includes/media.php, wp_get_registered_image_subsizes()):
WP_SIZES = [
    ("thumbnail", 150, 150, True),
    ("medium", 300, 300, False),
    ("medium_large", 768, 0, False),
    ("large", 1024, 1024, False),
    ("1536x1536", 1536, 1536, False),
    ("2048x2048", 2048, 2048, False),
]


def wp_names(stem, ext, w, h):
    """File names WordPress 5.3+ writes for an upload stem.ext of w x h."""
    names = [f"{stem}.{ext}"]
    for _, mw, mh, crop in WP_SIZES:
        if crop:
            nw, nh = min(mw, w), min(mh, h)
        else:
            nw, nh = constrain(w, h, mw, mh)
        if nw >= w and nh >= h:  # image_resize_dimensions(): never the same size or larger
            continue
        names.append(f"{stem}-{nw}x{nh}.{ext}")
    # big_image_size_threshold (2560): a larger non-PNG original is scaled and
    # saved as -scaled; sub-size names still come from the original name.
    if ext != "png" and (w > 2560 or h > 2560):
        names.append(f"{stem}-scaled.{ext}")
    return names


images = []
for pkg in ["leaflet", "govuk-frontend", "tinymce", "swiper", "reveal.js"]:
    for p in files_under(PLAIN_NM / pkg):
        if re.search(r"\.(png|gif|jpe?g)$", p, re.I):
            images.append((f"npm {pkg}@{npm_version(PLAIN_NM, pkg)}", PLAIN_NM / pkg / p))
for p in django_plain:
    if re.match(r"(admin|rest_framework)/", p) and re.search(r"\.(png|gif|jpe?g)$", p, re.I):
        images.append(("pip django/djangorestframework", STATIC_ROOT / p))
wp_keys = []
for _, path in images:
    size = image_size(path)
    if not size:
        continue
    stem, ext = path.name.rsplit(".", 1)
    wp_keys += [f"wp-content/uploads/2026/11/{n}" for n in wp_names(stem, ext.lower(), *size)]
add_plain(
    [
        "# source: WordPress sub-size rule (wp_create_image_subsizes: {name}-{W}x{H}.{ext} for 150x150 crop,",
        "# 300x300, 768x0, 1024x1024, 1536x1536, 2048x2048 fits, -scaled above 2560 px unless PNG) applied by",
        "# collect.py to the real raster images (real names, real pixel sizes) of npm leaflet, govuk-frontend,",
        "# tinymce, swiper, reveal.js and Django/DRF static; keys under wp-content/uploads/2026/11/",
    ],
    sorted(set(wp_keys)),
)
camera = []
for stem in ["govuk-opengraph-image", "layers", "grid", "glyphicons-halflings", "marker-shadow"]:
    camera += wp_names(stem, "jpg", 6000, 4000)  # 3:2 camera photo
    camera += wp_names(stem + "-1", "jpg", 4032, 3024)  # 4:3 phone photo, WordPress's -1 for a second upload
add_plain(
    [
        "# source: the same WordPress rule with ASSUMED originals: real image base names from the packages",
        "# above, uploaded as JPEG photos of 6000x4000 (3:2) and, as a second upload (-1), 4032x3024 (4:3)",
    ],
    sorted(set(f"wp-content/uploads/2026/11/{n}" for n in camera)),
)


# ---------------------------------------------------------------------------
# hashed.txt: one entry per build output, matched against its tool's template
# ---------------------------------------------------------------------------

B64 = r"[A-Za-z0-9_-]"
HEX = r"[0-9a-f]"
B32 = r"[A-Z2-7]"
B38 = r"[0-9a-z_-]"

# run -> (output dir, key prefix, tool label, hashed patterns, unhashed patterns)
# Each hashed pattern has a named group `hash`. Paths are relative to the
# output dir.


def tool(run, pkg):
    return npm_version(APPS / run / "node_modules", pkg)


RUNS = [
    (
        "vite8", APPS / "vite8" / "dist", "vite8/", f"vite {tool('vite8', 'vite')} (rolldown {tool('vite8', 'rolldown')})",
        [rf"assets/.+-(?P<hash>{B64}{{8}})\.(js|css|png|woff2?)"],
        [r"index\.html", r"favicon\.svg", r"robots\.txt"],
    ),
    (
        "vite7", APPS / "vite7" / "dist", "vite7/", f"vite {tool('vite7', 'vite')} (rollup {tool('vite7', 'rollup')})",
        [rf"assets/.+-(?P<hash>{B64}{{8}})\.(js|css|png|woff2?)"],
        [r"index\.html", r"favicon\.svg", r"robots\.txt"],
    ),
    (
        "rollup", APPS / "rollup" / "dist", "rollup/", f"rollup {tool('rollup', 'rollup')}",
        [rf"[a-z0-9]+-(?P<hash>{B64}{{8}})\.js", rf"assets/.+-(?P<hash>{B64}{{8}})\.(css|png)"],
        [r"main\.js"],
    ),
    (
        "webpack-default", APPS / "webpack" / "out" / "default", "webpack/", f"webpack {tool('webpack', 'webpack')}",
        [
            rf"(?P<hash>{HEX}{{20}})\.(png|woff2?)",
            rf"(main|\d+)\.(?P<hash>{HEX}{{20}})\.(js|css)",
        ],
        [],
    ),
    (
        "webpack-cra", APPS / "webpack" / "out" / "cra", "cra/", f"webpack {tool('webpack', 'webpack')} (Create React App 5 names)",
        [
            rf"static/js/(main|\d+)\.(?P<hash>{HEX}{{8}})(\.chunk)?\.js",
            rf"static/css/main\.(?P<hash>{HEX}{{8}})\.css",
            rf"static/media/.+\.(?P<hash>{HEX}{{20}})\.(png|woff2?)",
        ],
        [],
    ),
    (
        "webpack-vuecli", APPS / "webpack" / "out" / "vuecli", "vuecli/", f"webpack {tool('webpack', 'webpack')} (Vue CLI 5 names)",
        [
            rf"js/(main|\d+)\.(?P<hash>{HEX}{{8}})\.js",
            rf"css/main\.(?P<hash>{HEX}{{8}})\.css",
            rf"(fonts|img)/.+\.(?P<hash>{HEX}{{8}})\.(png|woff2?)",
        ],
        [],
    ),
    (
        "esbuild", APPS / "esbuild" / "dist", "esbuild/", f"esbuild {tool('esbuild', 'esbuild')}",
        [rf".+-(?P<hash>{B32}{{8}})\.(js|css|png|woff2?)"],
        [],
    ),
    (
        "parcel", APPS / "parcel" / "dist", "parcel/", f"parcel {tool('parcel', 'parcel')}",
        [rf"[^/]+\.(?P<hash>{HEX}{{8}})\.(js|css|png|svg|woff2?)(\.map)?"],
        [r"index\.html"],
    ),
    (
        "next-turbopack", APPS / "next" / "out-turbopack", "next/", f"next {tool('next', 'next')} (turbopack)",
        [
            rf"_next/static/chunks/(turbopack-)?(?P<hash>{B38}{{13}})\.(js|css)",
            rf"_next/static/media/.+\.(?P<hash>{B38}{{13}})\.(png|woff2)",
        ],
        [r"(.+/)?[^/]+\.(html|txt)", r"favicon\.svg", r"robots\.txt", r"_next/static/corpus-build-id/_[A-Za-z]+\.js"],
    ),
    (
        "next-webpack", APPS / "next" / "out-webpack", "next-webpack/", f"next {tool('next', 'next')} (next build --webpack)",
        [
            rf"_next/static/chunks/(.+/)?[^/]+-(?P<hash>{HEX}{{16}})\.js",
            rf"_next/static/chunks/\d+\.(?P<hash>{HEX}{{16}})\.js",
            rf"_next/static/css/(?P<hash>{HEX}{{16}})\.css",
            rf"_next/static/media/.+\.(?P<hash>{HEX}{{8}})\.(png|woff2)",
        ],
        [r"(.+/)?[^/]+\.(html|txt)", r"favicon\.svg", r"robots\.txt", r"_next/static/corpus-build-id/_[A-Za-z]+\.js"],
    ),
]

hashed_sections = []  # (comment lines, [(key, hash, tool)])

# Django: the manifest says which file each hashed copy belongs to, so the
# hash is exactly what Django inserted before the extension.
dj_tool = f"django {django.get_version()} ManifestStaticFilesStorage"
dj_entries = []
for original, hashed in sorted(manifest["paths"].items()):
    root, ext = os.path.splitext(original)
    m = re.fullmatch(re.escape(root) + rf"\.(?P<hash>{HEX}{{12}})" + re.escape(ext), hashed)
    if not m:
        sys.exit(f"django: {hashed} is not {original} with a 12-hex hash")
    dj_entries.append(("static/" + hashed, m["hash"], dj_tool))
hashed_sections.append(
    (
        [
            f"# source: pip django=={django.get_version()} djangorestframework=={rest_framework.VERSION}, "
            "collectstatic with STORAGES['staticfiles'] = ManifestStaticFilesStorage",
            "# (admin + rest_framework + tools/corpus/apps/django/siteapp); hash read from staticfiles.json",
        ],
        dj_entries,
    )
)

plain_tool_outputs = []
for run, outdir, prefix, label, hashed_pats, plain_pats in RUNS:
    entries, plain_here = [], []
    for rel in files_under(outdir):
        matches = [m for m in (re.fullmatch(p, rel) for p in hashed_pats) if m]
        if matches:
            entries.append((prefix + rel, matches[0]["hash"], label))
        elif any(re.fullmatch(p, rel) for p in plain_pats):
            plain_here.append(prefix + rel)
        else:
            sys.exit(f"{run}: {rel} matches none of the run's name templates; look at the tool's output")
    if not entries:
        sys.exit(f"{run}: no hashed file at all in {outdir}")
    hashed_sections.append(([f"# source: {label}: tools/corpus/apps/ build of the tiny app, output under {prefix}"], entries))
    if plain_here:
        plain_tool_outputs.append((f"# source: {label}: unhashed files of the same build (under {prefix})", plain_here))

for comment, keys in plain_tool_outputs:
    add_plain(comment, keys)


# ---------------------------------------------------------------------------
# checks and output
# ---------------------------------------------------------------------------

def check_and_write():
    seen = {}
    errors = []
    for _, keys in plain_sections:
        for k in keys:
            if k in seen:
                errors.append(f"duplicate key {k}")
            seen[k] = "plain"
    for _, entries in hashed_sections:
        for k, h, _t in entries:
            if k in seen:
                errors.append(f"duplicate key {k} (in {seen[k]} and hashed)")
            seen[k] = "hashed"
            if h not in k.rsplit("/", 1)[-1]:
                errors.append(f"{k}: hash {h} is not in the file name")
    for k in seen:
        if k.startswith("/") or "\t" in k or "\n" in k or not k:
            errors.append(f"bad key {k!r}")
    missing = [k for k in BUG_REPORT if seen.get(k) != "plain"]
    if missing:
        errors.append(f"bug-report names missing from plain: {missing}")
    if errors:
        sys.exit("\n".join(errors[:50]))

    OUT.mkdir(parents=True, exist_ok=True)
    header_plain = [
        "# Real file names (S3 keys) that are NOT content-hashed: a site overwrites them in place, so a",
        "# changed file must be invalidated. One key a line; '#' lines give provenance.",
        "# Generated by tools/corpus/build.sh (collect.py); do not edit by hand.",
    ]
    lines = header_plain[:]
    for comments, keys in plain_sections:
        lines.append("")
        lines += comments
        lines += keys
    (OUT / "plain.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    header_hashed = [
        "# Content-hashed file names (S3 keys) made by actually running each tool (pinned versions).",
        "# key<TAB>hash<TAB>tool; hash is exactly the substring the tool put in the file name.",
        "# Generated by tools/corpus/build.sh (collect.py); do not edit by hand.",
    ]
    lines = header_hashed[:]
    for comments, entries in hashed_sections:
        lines.append("")
        lines += comments
        lines += [f"{k}\t{h}\t{t}" for k, h, t in entries]
    (OUT / "hashed.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    n_plain = sum(len(k) for _, k in plain_sections)
    n_hashed = sum(len(e) for _, e in hashed_sections)
    print(f"plain.txt: {n_plain} keys")
    for comments, keys in plain_sections:
        print(f"  {len(keys):5d}  {comments[0][len('# source: '):][:100]}")
    print(f"hashed.txt: {n_hashed} keys")
    for comments, entries in hashed_sections:
        print(f"  {len(entries):5d}  {entries[0][2]}")


check_and_write()
