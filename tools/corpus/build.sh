#!/usr/bin/env bash
# Regenerates tests/fixtures/file-names/plain.txt and hashed.txt from scratch:
# installs the pinned packages (npm ci on the committed lockfiles, pip ==),
# runs every tool on the tiny apps in tools/corpus/apps/, and lets collect.py
# sort the results. Needs the npm registry and PyPI; the test suite never
# runs it. About 2 minutes on 2 cores with a warm npm cache.
#
#   tools/corpus/build.sh              # writes tests/fixtures/file-names/
#   OUT=/tmp/x tools/corpus/build.sh   # writes elsewhere (to compare)
#   CORPUS_WORK=/some/dir ...          # keep the work dir (default: a temp dir, removed)
#
# Needs: bash, node >= 20.19 with npm >= 11 (vite 8), python3 >= 3.10 with venv.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-$REPO/tests/fixtures/file-names}

if [[ -n ${CORPUS_WORK:-} ]]; then
    WORK=$CORPUS_WORK
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/file-name-corpus.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
fi
WORK=$(cd "$WORK" && pwd)
echo "work dir: $WORK" >&2

export NEXT_TELEMETRY_DISABLED=1
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '\n== %s\n' "$*" >&2; }

# npm ci of a committed package.json + package-lock.json into dir $2.
# Install scripts are not needed: esbuild, next (SWC), parcel and rolldown
# take their native binaries from optional platform packages.
npm_ci() {
    local src=$1 dir=$2
    mkdir -p "$dir"
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
}

# ---------------------------------------------------------------- sources
log "npm packages for plain.txt"
npm_ci "$HERE/npm/plain" "$WORK/plain"
NM=$WORK/plain/node_modules

log "python venv: django, djangorestframework; sphinx-rtd-theme wheel"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --no-deps -r "$HERE/requirements.txt"
"$WORK/venv/bin/pip" download --quiet --no-deps -d "$WORK/wheels" sphinx-rtd-theme==3.1.0

# The binary inputs of the tiny apps come from the packages above, so the
# committed tree holds only text.
HERO=$NM/govuk-frontend/dist/govuk/assets/images/govuk-opengraph-image.png
ICON=$NM/govuk-frontend/dist/govuk/assets/images/govuk-icon-512.png
FAVICON=$NM/govuk-frontend/dist/govuk/assets/images/favicon.svg
LATO=$NM/@fontsource/lato/files

# The shared tiny app (apps/common) laid into dir $1.
prep_app() {
    local dir=$1
    mkdir -p "$dir/src/fonts" "$dir/public"
    cp -R "$HERE/apps/common/." "$dir/"
    cp "$HERO" "$dir/src/hero.png"
    cp "$ICON" "$dir/src/icon.png"
    cp "$FAVICON" "$dir/public/favicon.svg"
    local weight style
    for weight in 100 300 400 700 900; do
        for style in normal italic; do
            cp "$LATO/lato-latin-$weight-$style.woff" "$LATO/lato-latin-$weight-$style.woff2" "$dir/src/fonts/"
        done
    done
}

# ---------------------------------------------------------------- django
log "django collectstatic (ManifestStaticFilesStorage)"
cp -R "$HERE/apps/django" "$WORK/django"
mkdir -p "$WORK/django/siteapp/static/siteapp/img" "$WORK/django/siteapp/static/siteapp/fonts"
cp "$HERO" "$WORK/django/siteapp/static/siteapp/img/hero.png"
cp "$LATO/lato-latin-400-normal.woff2" "$WORK/django/siteapp/static/siteapp/fonts/lato.woff2"
"$WORK/venv/bin/python" "$WORK/django/collect.py" "$WORK/django-out" >&2

APPS=$WORK/apps

# ---------------------------------------------------------------- vite
for v in vite8 vite7; do
    log "$v build"
    npm_ci "$HERE/apps/$v" "$APPS/$v"
    prep_app "$APPS/$v"
    (cd "$APPS/$v" && ./node_modules/.bin/vite build --logLevel warn >&2)
done

# ---------------------------------------------------------------- rollup
log "rollup"
npm_ci "$HERE/apps/rollup" "$APPS/rollup"
prep_app "$APPS/rollup"
cp "$HERE/apps/rollup/rollup.config.mjs" "$APPS/rollup/"
(cd "$APPS/rollup" && ./node_modules/.bin/rollup -c --silent >&2)

# ---------------------------------------------------------------- webpack
log "webpack (default, CRA, Vue CLI names)"
npm_ci "$HERE/apps/webpack" "$APPS/webpack"
prep_app "$APPS/webpack"
cp "$HERE/apps/webpack/webpack.config.js" "$APPS/webpack/"
for naming in default cra vuecli; do
    (cd "$APPS/webpack" && NAMING=$naming ./node_modules/.bin/webpack --config webpack.config.js --stats errors-warnings >&2)
done

# ---------------------------------------------------------------- esbuild
log "esbuild"
npm_ci "$HERE/apps/esbuild" "$APPS/esbuild"
prep_app "$APPS/esbuild"
(cd "$APPS/esbuild" && ./node_modules/.bin/esbuild src/main.js --bundle --splitting --format=esm --minify \
    --outdir=dist '--entry-names=[dir]/[name]-[hash]' '--asset-names=[name]-[hash]' \
    --loader:.png=file --loader:.woff=file --loader:.woff2=file --log-level=warning >&2)

# ---------------------------------------------------------------- parcel
log "parcel"
npm_ci "$HERE/apps/parcel" "$APPS/parcel"
prep_app "$APPS/parcel"
# Parcel has no public/ folder: it builds (and hashes) what index.html links.
cp "$FAVICON" "$APPS/parcel/favicon.svg"
(cd "$APPS/parcel" && ./node_modules/.bin/parcel build index.html --dist-dir dist --no-cache --log-level warn >&2)

# ---------------------------------------------------------------- next
log "next (turbopack, then webpack)"
# `next build --webpack` puts the project's absolute path into a few chunks
# (their module ids), so their hashes depend on where the app is built: it is
# built in a fixed directory and moved into the work dir afterwards. Turbopack
# output does not depend on the path.
NEXT_DIR=/tmp/file-name-corpus-next
rm -rf "$NEXT_DIR"
npm_ci "$HERE/apps/next" "$NEXT_DIR"
cp -R "$HERE/apps/next/." "$NEXT_DIR/"
mkdir -p "$NEXT_DIR/app/fonts" "$NEXT_DIR/public"
cp "$HERO" "$NEXT_DIR/app/hero.png"
cp "$LATO/lato-latin-400-normal.woff2" "$LATO/lato-latin-700-normal.woff2" "$NEXT_DIR/app/fonts/"
cp "$FAVICON" "$NEXT_DIR/public/favicon.svg"
cp "$HERE/apps/common/public/robots.txt" "$NEXT_DIR/public/robots.txt"
(cd "$NEXT_DIR" && ./node_modules/.bin/next build >&2 && mv out out-turbopack && rm -rf .next)
(cd "$NEXT_DIR" && ./node_modules/.bin/next build --webpack >&2 && mv out out-webpack && rm -rf .next)
mv "$NEXT_DIR" "$APPS/next"

# ---------------------------------------------------------------- collect
log "collect"
"$WORK/venv/bin/python" "$HERE/collect.py" "$WORK" "$OUT"
