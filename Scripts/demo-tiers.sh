#!/usr/bin/env bash
# Three mirror tiers on this machine, on loopback only, then a change at the top and the
# time until the bottom tier is identical (compared, not assumed).
#
#   tier 0: a tree, filelistd (lists over HTTP, /events) and an rsync daemon
#   tier 1: quick-mirror follow (lists from tier 0's filelistd, files from its rsync
#           daemon), a filelistd relay that re-announces what it installed, an rsync daemon
#   tier 2: quick-mirror follow from tier 1, the same way
#
# Usage: Scripts/demo-tiers.sh [DIR]   (default /tmp/quickmirror-tiers; DIR is replaced)
# QUICKMIRROR_BIN=DIR uses built executables from DIR instead of building.
# Every process it starts is stopped when it ends; the logs stay in DIR/run.
set -euo pipefail
cd "$(dirname "$0")/.."
top=${1:-/tmp/quickmirror-tiers}
run=$top/run

if [[ -n ${QUICKMIRROR_BIN:-} ]]; then
    bin=$QUICKMIRROR_BIN
else
    build_log=$(mktemp /tmp/quickmirror-build.XXXXXX.log)
    echo "== building (the first build takes several minutes)"
    swift build > "$build_log" 2>&1 || { cat "$build_log" >&2; echo "demo-tiers.sh: the build failed" >&2; exit 1; }
    rm -f "$build_log"
    bin=$(swift build --show-bin-path)
fi
for tool in rsync python3; do
    command -v $tool > /dev/null || { echo "demo-tiers.sh: $tool is needed (Scripts/test.sh installs it)" >&2; exit 1; }
done

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
}
trap cleanup EXIT

rm -rf "$top"
mkdir -p "$top/tier0" "$top/tier1" "$top/tier2" "$run"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for SECONDS COMMAND...: until COMMAND succeeds; 1 when time runs out.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

# http_port LOG: the port a filelistd names in its log once it listens.
http_port() { grep -o 'address=127.0.0.1:[0-9]*' "$1" 2> /dev/null | head -1 | cut -d: -f2; }
listening() { [[ -n $(http_port "$1") ]]; }

# rsync_daemon NAME DIR VAR: serves DIR as module "master" on a free loopback port, in VAR.
# (Not called as $(...): the daemon would hold the substitution's pipe open.)
rsync_daemon() {
    local port
    port=$(free_port)
    cat > "$run/$1-rsyncd.conf" << EOF
use chroot = no
read only = yes
exclude = .~tmp~/
[master]
    path = $2
EOF
    rsync --daemon --no-detach --address=127.0.0.1 --port="$port" --config="$run/$1-rsyncd.conf" \
        --log-file="$run/$1-rsyncd.log" > /dev/null 2>&1 &
    pids+=($!)
    wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2> /dev/null
    printf -v "$3" '%s' "$port"
}

# The tier-0 tree: one module, "fedora", shaped like Fedora's.
os=$top/tier0/fedora/releases/41/Everything/x86_64/os
mkdir -p "$os/repodata" "$top/tier0/fedora/releases/41/Server/x86_64/os/Packages"
for letter in a b c d e f; do
    mkdir -p "$os/Packages/$letter"
    for n in $(seq 1 40); do echo "$letter package $n" > "$os/Packages/$letter/$letter-pkg-$n.fc41.x86_64.rpm"; done
done
printf '<repomd revision="1"/>\n' > "$os/repodata/repomd.xml"
ln "$os/Packages/b/b-pkg-1.fc41.x86_64.rpm" "$top/tier0/fedora/releases/41/Server/x86_64/os/Packages/"
ln -s 41 "$top/tier0/fedora/releases/latest"

echo "== tier 0: filelistd and an rsync daemon on $top/tier0"
printf 'top = %s\nmodules = fedora\nchecksum = yes\n' "$top/tier0" > "$run/tier0-filelistd.conf"
"$bin/filelistd" --config "$run/tier0-filelistd.conf" --runtime-directory "$run/tier0" \
    --http 127.0.0.1:0 --name tier0 > /dev/null 2> "$run/tier0-filelistd.log" &
pids+=($!)
wait_for 60 grep -qs 'lists announced' "$run/tier0-filelistd.log" ||
    { cat "$run/tier0-filelistd.log" >&2; echo "demo-tiers.sh: tier 0's filelistd did not start" >&2; exit 1; }
http0=$(http_port "$run/tier0-filelistd.log")
rsync_daemon tier0 "$top/tier0" rsync0

# follow TIER UPSTREAM_HTTP UPSTREAM_RSYNC [RELAY]: quick-mirror follow for one tier,
# telling its relay (the bottom tier has none) after each sync.
follow() {
    cat > "$run/$1-qfm.conf" << EOF
DESTD=$top/$1
TIMEFILE=$run/$1.timefile
REMOTE=rsync://127.0.0.1:$3
MASTERMODULE=master
MODULES=(fedora-enchilada)
LISTSOURCE=http://127.0.0.1:$2
${4:+NOTIFYFILELISTD=$4}
EOF
    "$bin/quick-mirror" follow -c "$run/$1-qfm.conf" --interval 3600 -d 1 < /dev/null > "$run/$1-quick-mirror.log" 2>&1 &
    pids+=($!)
}

# relay TIER VAR: serves the lists quick-mirror installs at TIER; its HTTP port in VAR.
relay() {
    "$bin/filelistd" relay --dir "$top/$1" --list fedora/fullfiletimelist-fedora --http 127.0.0.1:0 \
        --name "$1" --runtime-directory "$run/$1-relay" > /dev/null 2> "$run/$1-relay.log" &
    pids+=($!)
    wait_for 30 listening "$run/$1-relay.log" ||
        { cat "$run/$1-relay.log" >&2; echo "demo-tiers.sh: $1's relay did not start" >&2; exit 1; }
    printf -v "$2" '%s' "$(http_port "$run/$1-relay.log")"
}

# same TIER: the tier holds exactly tier 0's entries, with their types, sizes, modes,
# link targets and (for files and links) times. Directory times are left out: a
# deletion at a tier touches its directory after rsync has set the upstream time.
snapshot() { (cd "$1" && find . -mindepth 1 \( -type d -printf '%P d %m\n' \) -o -printf '%P %y %s %m %T@ %l\n' 2> /dev/null | sort); }
same() {
    [[ $(snapshot "$top/$1") == "$(snapshot "$top/tier0")" ]] || return 1
    # Hard links stay links: the Server copy and the Everything copy share an inode.
    local a b
    a=$(stat -c %i "$top/$1/fedora/releases/41/Server/x86_64/os/Packages/b-pkg-1.fc41.x86_64.rpm" 2> /dev/null) || return 1
    b=$(stat -c %i "$top/$1/fedora/releases/41/Everything/x86_64/os/Packages/b/b-pkg-1.fc41.x86_64.rpm") || return 1
    [[ $a == "$b" ]]
}

echo "== tier 1: quick-mirror follow, a relay and an rsync daemon on $top/tier1"
relay tier1 http1
follow tier1 "$http0" "$rsync0" "$run/tier1-relay"
rsync_daemon tier1 "$top/tier1" rsync1
echo "== tier 2: quick-mirror follow from tier 1 into $top/tier2"
follow tier2 "$http1" "$rsync1"

wait_for 60 same tier2 || { echo "demo-tiers.sh: the first sync did not reach tier 2 (logs in $run)" >&2; exit 1; }
echo "first sync: tier 2 is identical to tier 0"

# A change at the top: a new file, a file replaced, a deletion, a new hard link.
sleep 1 # past the second of the first sync, so every time below is new
start=$(date +%s.%N)
echo "new package" > "$os/Packages/n-new-1.fc41.x86_64.rpm.tmp" && mv "$os/Packages/n-new-1.fc41.x86_64.rpm.tmp" "$os/Packages/a/n-new-1.fc41.x86_64.rpm"
echo "rebuilt package, longer than before" > "$os/Packages/c/c-pkg-2.fc41.x86_64.rpm"
rm "$os/Packages/d/d-pkg-3.fc41.x86_64.rpm"
ln "$os/Packages/e/e-pkg-4.fc41.x86_64.rpm" "$top/tier0/fedora/releases/41/Server/x86_64/os/Packages/"
printf '<repomd revision="2"/>\n' > "$os/repodata/repomd.xml"
echo "changed at tier 0: a new file, a replaced file, a deletion, a hard link, repomd.xml"

if ! wait_for 60 same tier2; then
    echo "demo-tiers.sh: tier 2 is not identical to tier 0 60 s after the change (logs in $run)" >&2
    diff <(snapshot "$top/tier0") <(snapshot "$top/tier2") >&2 || true
    exit 1
fi
end=$(date +%s.%N)
e0=$(stat -c %i "$top/tier2/fedora/releases/41/Server/x86_64/os/Packages/e-pkg-4.fc41.x86_64.rpm")
e1=$(stat -c %i "$top/tier2/fedora/releases/41/Everything/x86_64/os/Packages/e/e-pkg-4.fc41.x86_64.rpm")
[[ $e0 == "$e1" ]] || { echo "demo-tiers.sh: the new hard link is a copy at tier 2" >&2; exit 1; }
printf 'tier 2 identical to tier 0 %.2f s after the change (settle times at their defaults)\n' \
    "$(echo "$end - $start" | bc -l 2> /dev/null || python3 -c "print($end - $start)")"
grep -h 'route' "$run/tier2-quick-mirror.log" | tail -1 || true
echo "logs: $run"
