#!/usr/bin/env bash
# The status page as a browser shows it, with real hops: an origin and two relayed tiers on
# loopback, a few generations synced down both, then one more that tier 1 has synced and
# tier 2 has not, so tier 2's page shows it behind. Takes the screenshot with headless
# Chromium (Debian package `chromium`) and prints `quick-mirror status` for the three.
#
# Usage: Scripts/status-page.sh [PNG]   (default docs/status-page.png)
# QUICKMIRROR_BIN=DIR uses built executables from DIR instead of building.
# Everything it starts is stopped when it ends; the trees and logs are in a temporary
# directory, removed at the end unless QUICKMIRROR_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
png=$(realpath -m "${1:-docs/status-page.png}")
top=$(mktemp -d /tmp/quickmirror-status.XXXXXX)
run=$top/run

if [[ -n ${QUICKMIRROR_BIN:-} ]]; then
    bin=$QUICKMIRROR_BIN
else
    swift build > "$top/build.log" 2>&1 || { cat "$top/build.log" >&2; echo "status-page.sh: the build failed" >&2; exit 1; }
    bin=$(swift build --show-bin-path)
fi
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || { echo "status-page.sh: chromium is needed (apt-get install chromium)" >&2; exit 1; }

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
    [[ ${QUICKMIRROR_KEEP:-} == 1 ]] || rm -rf "$top"
}
trap cleanup EXIT
mkdir -p "$top/origin" "$top/tier1" "$top/tier2" "$run"

wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}
http_port() { grep -o 'address=127.0.0.1:[0-9]*' "$1" 2> /dev/null | head -1 | cut -d: -f2; }
listening() { [[ -n $(http_port "$1") ]]; }
generation() { curl -s "http://127.0.0.1:$1/announcement" | grep -o '"generation":[0-9]*' | head -1 | cut -d: -f2; }

# A small Fedora-shaped module.
os=$top/origin/fedora/releases/42/Everything/x86_64/os
mkdir -p "$os/repodata"
for letter in a b c d; do
    mkdir -p "$os/Packages/$letter"
    for n in $(seq 1 250); do echo "$letter $n" > "$os/Packages/$letter/$letter-pkg-$n.fc42.x86_64.rpm"; done
done
printf '<repomd revision="1"/>\n' > "$os/repodata/repomd.xml"

printf 'top = %s\nmodules = fedora\nchecksum = yes\nsettle = 0.1\n' "$top/origin" > "$run/origin.conf"
"$bin/filelistd" --config "$run/origin.conf" --runtime-directory "$run/origin" --http 127.0.0.1:0 \
    --name dl01 > /dev/null 2> "$run/origin.log" &
pids+=($!)
wait_for 60 grep -qs 'lists announced' "$run/origin.log" || { cat "$run/origin.log" >&2; exit 1; }
http0=$(http_port "$run/origin.log")

# relay TIER UPSTREAM_PORT VAR
relay() {
    "$bin/filelistd" relay --dir "$top/$1" --list fedora/fullfiletimelist-fedora --http 127.0.0.1:0 \
        --name "$1.example.org" --runtime-directory "$run/$1-relay" --upstream "http://127.0.0.1:$2" \
        > /dev/null 2> "$run/$1-relay.log" &
    pids+=($!)
    wait_for 30 listening "$run/$1-relay.log" || { cat "$run/$1-relay.log" >&2; exit 1; }
    printf -v "$3" '%s' "$(http_port "$run/$1-relay.log")"
}
relay tier1 "$http0" http1
relay tier2 "$http1" http2

# sync TIER UPSTREAM_TIER UPSTREAM_PORT: one quick-mirror run, content by a local rsync.
sync() {
    cat > "$run/$1.conf" << EOF
DESTD=$top/$1
TIMEFILE=$run/$1.timefile
REMOTE=$top/$2
MASTERMODULE=
MODULES=(fedora-enchilada)
LISTSOURCE=http://127.0.0.1:$3
NOTIFYFILELISTD=$run/$1-relay
EOF
    "$bin/quick-mirror" -c "$run/$1.conf" > "$run/$1-sync.log" 2>&1 || { cat "$run/$1-sync.log" >&2; exit 1; }
}

# change N: a new package at the origin; waits for its generation.
change() {
    local before
    before=$(generation "$http0")
    echo "new $1" > "$os/Packages/a/new-$1.fc42.x86_64.rpm"
    printf '<repomd revision="%s"/>\n' "$1" > "$os/repodata/repomd.xml"
    newer() { [[ $(generation "$http0") -gt $before ]]; }
    wait_for 30 newer
}

sync tier1 origin "$http0"
sync tier2 tier1 "$http1"
for n in 1 2 3 4 5; do
    change "$n"
    sleep "0.$((n * 13 % 7 + 2))"
    sync tier1 origin "$http0"
    sleep "0.$((n * 7 % 5 + 3))"
    sync tier2 tier1 "$http1"
done
# One more: synced at tier 1, heard of at tier 2, not synced there yet.
change 6
sleep 0.4
sync tier1 origin "$http0"
wait_for 30 bash -c "curl -s http://127.0.0.1:$http2/status | grep -q '\"lag_seconds\":[1-9]\|\"lag_seconds\":0\.[0-9]*[1-9]'"
sleep 1.5

"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,900 \
    --screenshot="$png" "http://127.0.0.1:$http2/" > "$run/chromium.log" 2>&1 ||
    { cat "$run/chromium.log" >&2; exit 1; }
echo "screenshot: $png"
"$bin/quick-mirror" status "http://127.0.0.1:$http0" "http://127.0.0.1:$http1" "http://127.0.0.1:$http2" \
    --max-lag 1 || true
