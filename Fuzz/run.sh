#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for a bounded time, keeping what it learns.
#
#   Fuzz/run.sh [SECONDS] [TARGET...]     default: 60 s each, every target
#
# Each target starts from its seed corpus (Fuzz/Corpus/TARGET, made from the tests'
# inputs and kept in the repository) and adds the inputs that reached new code to
# Fuzz/.corpus/TARGET (not committed; copy the small ones worth keeping into Corpus/).
# A crash leaves its input in Fuzz/.findings/ and fails the script: add that input as a
# regression test where the parser's tests are, fix the parser, and add the input to the
# seed corpus. Prints one line per target: runs, executions, new corpus entries.
#
# CI can call it with a short time (QUICKMIRROR_FUZZ_SECONDS=30 Scripts/test.sh runs it
# after the tests); the build takes minutes the first time (the sanitizers), and
# a second build folder (.build-fuzz) keeps it apart from the main one.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-${QUICKMIRROR_FUZZ_SECONDS:-60}}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(fuzz-filelist-reader fuzz-delta-decoder fuzz-shell-config fuzz-daemon-config fuzz-request-target)
fi
flags=(--scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
for target in "${targets[@]}"; do
    swift build "${flags[@]}" --product "$target" >.build-fuzz.log 2>&1 || { cat .build-fuzz.log; exit 1; }
done
bin=$(swift build "${flags[@]}" --show-bin-path)
mkdir -p .findings
status=0
for target in "${targets[@]}"; do
    mkdir -p ".corpus/$target" "Corpus/$target"
    log=".findings/$target.log"
    # One process, no forking: -max_total_time bounds it; ASan's leak check is off
    # because Swift's runtime keeps metadata caches for the life of the process.
    # Swift's own backtracer would symbolicate a crash at length before libFuzzer saves it.
    if SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix=".findings/$target-" ".corpus/$target" "Corpus/$target" >"$log" 2>&1; then
        result=passed
    else
        result=FAILED
        status=1
    fi
    executions=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
    echo "$target: $result, ${seconds}s, ${executions:-?} executions, corpus $(ls ".corpus/$target" | wc -l) entries (log: Fuzz/$log)"
done
exit $status
