#!/usr/bin/env bash
# Builds the release binaries and the benchmarks, then runs one. Examples:
#   Benchmarks/run.sh filelist --files 1000000     create-filelist vs find
#   Benchmarks/run.sh daemon --files 1000000       filelistd: READY, memory, latency, idle
#   Benchmarks/run.sh scale                        filelistd on 4M entries in 3 modules: a change's cost, start
#   Benchmarks/run.sh index --entries 10000000     the index alone
#   Benchmarks/run.sh plan --entries 1000000       quick-mirror planning from two lists
#   Benchmarks/run.sh delta --entries 1000000      /changes: delta size, make and apply times
#   Benchmarks/run.sh poll --files 200000          conditional GETs and whole lists: filelistd vs nginx
#   Benchmarks/run.sh status                       /status and the status page vs nginx serving the same bytes
#   Benchmarks/run.sh listing --entries 1000000    mirror-cache's listing: memory per entry, lookups, generations
#   Benchmarks/run.sh cache                         mirror-cache hits and misses vs nginx
#   Benchmarks/run.sh subscribers --subscribers 10000 --publishes 10
#                                                   /events: every subscriber gets every announcement; memory each
set -euo pipefail
cd "$(dirname "$0")"
what=${1:-filelist}
shift || true
swift build -c release --package-path .. --product create-filelist
swift build -c release --package-path .. --product filelistd
# Peak memory of a measured command is taken by peak-rss (Sources/peak-rss says why).
swift build -c release --package-path .. --product peak-rss
export QUICKMIRROR_PEAK_RSS=$PWD/../.build/release/peak-rss
if [[ $what == cache ]]; then swift build -c release --package-path .. --product mirror-cache; fi
if [[ $what == subscribers ]]; then
    swift build -c release --product sse-load
    exec .build/release/sse-load --tool ../.build/release/filelistd "$@"
fi
swift build -c release
case "$what" in
    filelist) exec .build/release/filelist-bench --tool ../.build/release/create-filelist "$@" ;;
    daemon) exec .build/release/quickmirror-bench daemon --tool ../.build/release/filelistd "$@" ;;
    scale) exec .build/release/quickmirror-bench scale "$@" ;;
    index) exec .build/release/quickmirror-bench index "$@" ;;
    plan) exec .build/release/quickmirror-bench plan "$@" ;;
    delta) exec .build/release/quickmirror-bench delta "$@" ;;
    poll) exec .build/release/quickmirror-bench poll --tool ../.build/release/filelistd "$@" ;;
    status) exec .build/release/quickmirror-bench status --tool ../.build/release/filelistd "$@" ;;
    listing) exec .build/release/quickmirror-bench listing "$@" ;;
    cache) exec .build/release/quickmirror-bench cache --tool ../.build/release/mirror-cache "$@" ;;
    *) echo "run.sh: unknown benchmark '$what' (filelist, daemon, scale, index, plan, delta, poll, status, listing, cache or subscribers)" >&2; exit 2 ;;
esac
