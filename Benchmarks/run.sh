#!/usr/bin/env bash
# Builds the release binaries and the benchmark, then runs it. Arguments go to
# filelist-bench, e.g. `Benchmarks/run.sh --files 1000000`.
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release --package-path .. --product create-filelist
swift build -c release
exec .build/release/filelist-bench --tool ../.build/release/create-filelist "$@"
