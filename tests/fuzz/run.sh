#!/usr/bin/env bash
# Fuzz each reader's libFuzzer target (a CNN_FUZZ=ON build) for SECONDS on a
# copy of its corpus, so the repository's corpus is never written into; any
# finding (crash, leak, timeout, out-of-memory, sanitizer report) fails.
#   tests/fuzz/run.sh BUILD_DIR SECONDS [READER...]     (default: every reader)
# Findings are kept in $FUZZ_OUT (default: a temporary folder, printed):
# add each to tests/fuzz/corpus/READER/ as crash-WHAT once the reader is fixed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: run.sh BUILD_DIR SECONDS [READER...]}"
secs="${2:?usage: run.sh BUILD_DIR SECONDS [READER...]}"
shift 2
readers=("$@")
[ ${#readers[@]} -gt 0 ] || readers=(npy idx weights csv checkpoint cli)
out="${FUZZ_OUT:-$(mktemp -d /tmp/cnn_fuzz_run.XXXXXX)}"
mkdir -p "$out"
failed=0
for r in "${readers[@]}"; do
    exe="$build/tests/fuzz_$r"
    if [ ! -x "$exe" ]; then
        echo "run.sh: no $exe (configure with CC=clang-14 -DCNN_FUZZ=ON and build it)" >&2
        failed=1
        continue
    fi
    work="$out/$r"
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/findings"
    cp "$here/corpus/$r/"* "$work/corpus/"
    echo "== fuzz_$r: ${secs} s on $(ls "$work/corpus" | wc -l) corpus files"
    "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$work/findings/" \
        "$work/corpus" >"$work/log" 2>&1
    rc=$?
    tail -n 12 "$work/log" | grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added|#[0-9]+.*DONE)" || true
    if [ $rc -ne 0 ] || [ -n "$(ls -A "$work/findings")" ]; then
        echo "FAIL fuzz_$r (exit $rc): findings in $work/findings, log $work/log" >&2
        grep -E "ERROR|SUMMARY|runtime error|ALARM|out-of-memory" "$work/log" | head -n 20 >&2
        failed=1
    fi
done
echo "fuzz logs and corpora: $out"
exit $failed
