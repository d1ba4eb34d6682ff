#!/usr/bin/env bash
# The randomized invariant at scale: filelistd follows one module of a large tree while
# ../shared/tools/treechurn.py (written apart from our tests) churns it; after the churn
# and a quiet spell, the published list is compared with a one-shot create-filelist of
# the same module. Any line that still differs --converge seconds later is drift: a change
# the daemon missed.
#
#   Benchmarks/drift.sh --top TOP [--module fedora] [--seeds "1 2 3"] [--events "fanotify inotify"]
#                       [--bin DIR] [--ops 3000] [--converge 120] [-- TREECHURN-ARGS...]
#
# TOP is a tree of modules (Benchmarks/run.sh scale builds one, or mktree.py); DIR holds
# release filelistd and create-filelist (default ../.build/release). The churn leaves the
# tree changed: run it on a copy you can spare. Prints one line per run and a total; exits
# 1 when any run drifted or its list was not byte-identical to create-filelist's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top='' module=fedora seeds='1 2 3 4 5 6 7 8 9 10' sources='fanotify inotify' bin=$here/../.build/release ops=3000 converge=120
churn_args=()
while (($#)); do
    case $1 in
        --top) top=$2; shift 2 ;;
        --module) module=$2; shift 2 ;;
        --seeds) seeds=$2; shift 2 ;;
        --events) sources=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --ops) ops=$2; shift 2 ;;
        --converge) converge=$2; shift 2 ;;
        --) shift; churn_args=("$@"); break ;;
        *) echo "drift.sh: unknown argument $1" >&2; exit 64 ;;
    esac
done
churn=$here/../../shared/tools/treechurn.py
[[ -n $top && -d $top/$module ]] || { echo "drift.sh: --top TOP with a module directory $module is required" >&2; exit 64; }
[[ -f $churn ]] || { echo "drift.sh: $churn is not there (../shared/tools); nothing to churn with" >&2; exit 64; }
for tool in filelistd create-filelist; do
    [[ -x $bin/$tool ]] || { echo "drift.sh: no $bin/$tool (build with swift build -c release)" >&2; exit 64; }
done
work=$(mktemp -d /var/tmp/quickmirror-drift-XXXXXX)
daemon=''
trap '[[ -n $daemon ]] && kill $daemon 2> /dev/null; wait 2> /dev/null; rm -rf "$work"' EXIT
lists=(fullfiletimelist-$module fullfilelist imagelist-$module)
files_section() { sed -n '/^\[Files\]/,/^$/p' "$1" | sort; }
failed=0 runs=0
for events in $sources; do
    for seed in $seeds; do
        run=$work/$events-$seed
        mkdir -p "$run" "$work/outside"
        printf 'top = %s\nmodules = %s\nchecksum = yes\nsettle = 1\nmax-delay = 5\nevents = %s\n' \
            "$top" "$module" "$events" > "$run/conf"
        "$bin/filelistd" --config "$run/conf" --runtime-directory "$run" > "$run/log" 2>&1 &
        daemon=$!
        for _ in $(seq 1 600); do grep -q 'list published' "$run/log" && break; sleep 0.5; done
        grep -q 'list published' "$run/log" || { echo "drift.sh: filelistd did not publish (log: $run/log)" >&2; exit 1; }
        started=$SECONDS
        python3 "$churn" --dir "$top/$module" --outside "$work/outside" --ops "$ops" --seed "$seed" --pauses 6 \
            --skip "${lists[0]}" --skip "${lists[1]}" --skip "${lists[2]}" "${churn_args[@]}" > "$run/churn" 2>&1
        churned=$((SECONDS - started))
        sleep 12  # the settle (1 s) and max-delay (5 s) twice over
        "$bin/create-filelist" -d "$top/$module" -c -s -S "${lists[0]}" -S "${lists[1]}" -S "${lists[2]}" > "$run/oneshot"
        # A batch still being read (a full rescan takes tens of seconds at this size on a
        # loaded machine) is not drift: the list has until --converge seconds to agree.
        waited=0
        until cmp -s "$top/$module/${lists[0]}" "$run/oneshot" || ((waited >= converge)); do
            sleep 5; waited=$((waited + 5))
        done
        diff <(files_section "$top/$module/${lists[0]}") <(files_section "$run/oneshot") | grep '^[<>]' > "$run/diff" || true
        differing=$(wc -l < "$run/diff")
        identical=yes
        cmp -s "$top/$module/${lists[0]}" "$run/oneshot" || identical=no
        overflows=$(grep -c overflow "$run/log" || true)
        rescans=$(grep -c 'rescan' "$run/log" || true)
        echo "seed $seed, $events: $ops operations in ${churned} s; $differing differing lines; byte-identical: $identical (waited ${waited} s more); overflows $overflows, rescans $rescans"
        kill "$daemon"; wait "$daemon" 2> /dev/null || true; daemon=''
        runs=$((runs + 1))
        if ((differing > 0)) || [[ $identical == no ]]; then
            failed=$((failed + 1))
            cp "$run/log" "/var/tmp/quickmirror-drift-$events-$seed.log"
            cp "$run/diff" "/var/tmp/quickmirror-drift-$events-$seed.diff"
            cp "$run/churn" "/var/tmp/quickmirror-drift-$events-$seed.churn"
            echo "  the daemon's log: /var/tmp/quickmirror-drift-$events-$seed.log; the differing lines (< published, > one-shot): .diff; the churn's output: .churn" >&2
        fi
    done
done
echo "drift.sh: $runs runs on $top/$module, $failed with drift"
((failed == 0))
