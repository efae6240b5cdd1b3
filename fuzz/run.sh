#!/usr/bin/env bash
# Fuzzes each target for SECONDS (all targets, or those named), one after the
# other: `bash fuzz/run.sh 25` for `make test`, `bash fuzz/run.sh 300` for a
# longer search. Installs what it needs when missing: the nightly toolchain
# (rustup, minimal profile) and the pinned cargo-fuzz, into the project's
# .tools/. Stops at the first crash, with the panic and the saved input.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
seconds=${1:?usage: bash fuzz/run.sh SECONDS_PER_TARGET [TARGET...]}
shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(path event)
fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$fuzz_dir")
started=$SECONDS

if ! cargo +nightly --version >/dev/null 2>&1; then
    command -v rustup >/dev/null || {
        echo "error: cargo fuzz needs the nightly toolchain, and rustup to install it (https://rustup.rs)" >&2
        exit 1
    }
    echo "fuzz: installing the nightly toolchain cargo fuzz needs (rustup, minimal profile)..."
    rustup toolchain install nightly --profile minimal
fi
# cargo-fuzz lives in the project (.tools/cargo), not in ~/.cargo.
export CARGO_INSTALL_ROOT="$root/.tools/cargo"
export PATH="$CARGO_INSTALL_ROOT/bin:$PATH"
if [[ "$(cargo fuzz --version 2>/dev/null | head -n 1)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo (about a minute)..."
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

cd "$root"
# Release build with debug assertions and AddressSanitizer (cargo-fuzz's
# defaults), of the pure core only (no SDK: see fuzz/Cargo.toml).
echo "fuzz: building the targets (first time: about a minute)..."
cargo +nightly fuzz build
built=$SECONDS

mkdir -p "$fuzz_dir/logs"
for target in "${targets[@]}"; do
    # New inputs go to corpus/ (ignored by git); seeds/ and events/ are only read.
    inputs=("$fuzz_dir/corpus/$target" "$fuzz_dir/seeds/$target")
    max_len=4096
    if [[ $target == event ]]; then
        inputs+=("$root/events")
        max_len=16384 # larger samples are read truncated
    fi
    mkdir -p "${inputs[0]}"
    # This run's own log, kept as logs/TARGET.log at the end, so that two runs
    # at once do not mix their figures.
    log=$(mktemp)
    if cargo +nightly fuzz run "$target" "${inputs[@]}" -- \
        -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
        -dict="$fuzz_dir/dicts/$target.dict" -print_final_stats=1 >"$log" 2>&1; then
        stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
        echo "fuzz $target: $(stat number_of_executed_units) executions in ${seconds}s" \
            "($(stat average_exec_per_sec) exec/s), corpus $(find "${inputs[0]}" -type f | wc -l) inputs, no crash"
        mv "$log" "$fuzz_dir/logs/$target.log"
    else
        mv "$log" "$fuzz_dir/logs/$target.log"
        log="$fuzz_dir/logs/$target.log"
        # The panic, then the input as cargo-fuzz shows it (or the log's end).
        sed -n '/panicked at/,/^$/p' "$log" | head -n 6
        sed -n '/^Failing input:/,/^Reproduce with:/p' "$log" | grep . || tail -n 30 "$log"
        echo "error: fuzz target $target failed (full log: fuzz/logs/$target.log); the input is saved" \
            "under fuzz/artifacts/$target/; replay it: cargo +nightly fuzz run $target ARTIFACT" >&2
        exit 1
    fi
done
echo "fuzz: done in $((SECONDS - started))s (build $((built - started))s)"
