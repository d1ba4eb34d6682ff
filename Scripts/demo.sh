#!/usr/bin/env bash
# Builds the three tools (a debug build: the demo tree is tiny, and the tests reuse
# it; `swift build -c release` is what a mirror runs), makes a small mirror-shaped demo tree (one module,
# "demo"), publishes its fullfiletimelist with create-filelist, then runs filelistd on
# it with its HTTP side and lets quick-mirror sync a mirror from it, before and after
# a change. Usage: Scripts/demo.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
top=${1:-/tmp/quickmirror-demo}
tree=$top/demo
list=$tree/fullfiletimelist-demo

# Build output only matters when the build fails.
build_log=$(mktemp /tmp/quickmirror-build.XXXXXX.log)
echo "== building (the first build takes several minutes)"
if ! swift build > "$build_log" 2>&1; then
    cat "$build_log" >&2
    echo "demo.sh: the build failed (above)" >&2
    exit 1
fi
rm -f "$build_log"
bin=.build/debug/create-filelist
daemon=.build/debug/filelistd
client=.build/debug/quick-mirror

rm -rf "$top" "$top-mirror"
os="$tree/linux/releases/40/Everything/x86_64/os"
mkdir -p "$os/Packages/b" "$os/Packages/k" "$os/repodata" "$tree/linux/releases/40/Server/x86_64/os/Packages/b"
echo "demo bash" > "$os/Packages/b/bash-5.2.26-3.fc40.x86_64.rpm"
echo "demo kernel" > "$os/Packages/k/kernel-6.8.5-301.fc40.x86_64.rpm"
ln "$os/Packages/b/bash-5.2.26-3.fc40.x86_64.rpm" "$tree/linux/releases/40/Server/x86_64/os/Packages/b/"
printf '<repomd/>\n' > "$os/repodata/repomd.xml"
ln -s 40 "$tree/linux/releases/latest"
mkdir -p "$tree/linux/embargoed" && echo "not yet" > "$tree/linux/embargoed/next.iso" && chmod 750 "$tree/linux/embargoed"
ln -s does-not-exist "$tree/linux/broken-link"

# -c: checksums of repomd.xml; -s: leave the list itself out; --if-changed: a second run
# that finds nothing new leaves the file (and its mtime, and its ETag) alone.
echo "== create-filelist"
"$bin" -d "$tree" -c -s -t "$list" --if-changed -v
echo
cat "$list"
echo
"$bin" -d "$tree" -c -s -t "$list" --if-changed -v

# The daemon keeps the same list current from kernel events, and serves it over HTTP.
echo
echo "== filelistd: start, change the tree, watch the list follow"
run=$top-run
rm -rf "$run" && mkdir -p "$run"
printf 'top = %s\nmodules = demo\nchecksum = yes\nsettle = 0.5\n' "$top" > "$run/filelistd.conf"
"$daemon" --config "$run/filelistd.conf" --runtime-directory "$run" --http 127.0.0.1:0 --name demo-origin \
    2> "$run/filelistd.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
port=
for _ in $(seq 100); do
    port=$(grep -o 'address=127.0.0.1:[0-9]*' "$run/filelistd.log" | cut -d: -f2 || true)
    [[ -n $port ]] && grep -q 'lists announced' "$run/filelistd.log" && break
    sleep 0.1
done
echo "serving http://127.0.0.1:$port/demo/fullfiletimelist-demo"

mirror() {
    "$client" -d 2 --set "DESTD=$top-mirror" --set "REMOTE=$top" --set "LISTSOURCE=http://127.0.0.1:$port" \
        --set 'MODULES=(demo)'
}
if command -v rsync > /dev/null; then
    echo
    echo "== quick-mirror: a first sync of $top-mirror over HTTP (the lists) and rsync (the files)"
    mirror
fi

echo "demo update" > "$os/Packages/b/bash-5.2.27-1.fc40.x86_64.rpm"
sleep 1.5
"$daemon" status --config "$run/filelistd.conf" --runtime-directory "$run"
grep bash-5.2.27 "$list"
# The daemon never lists its own outputs (the time list and, as Fedora publishes them, fullfilelist and
# imagelist-MODULE); the one-shot generator is told to leave the same three out.
if "$bin" -d "$tree" -c -S fullfiletimelist-demo -S fullfilelist -S imagelist-demo | cmp -s - "$list"; then
    echo "filelistd's list is byte-identical to create-filelist's"
else
    echo "filelistd's list differs from create-filelist's" >&2
    exit 1
fi

if command -v rsync > /dev/null; then
    echo
    echo "== quick-mirror again: the list comes as a delta (everything changed this second is fetched again)"
    mirror
    cmp "$list" "$top-mirror/demo/fullfiletimelist-demo"
    cmp "$os/Packages/b/bash-5.2.27-1.fc40.x86_64.rpm" "$top-mirror/demo/linux/releases/40/Everything/x86_64/os/Packages/b/bash-5.2.27-1.fc40.x86_64.rpm"
    echo "the mirror has the new file and the upstream's list (restricted and dangling entries stay upstream)"
else
    echo "(rsync is not installed: Scripts/test.sh installs it; quick-mirror's part of the demo was skipped)"
fi

cat <<SUMMARY

== what ran
create-filelist listed $tree into $list; filelistd then kept that list current
from kernel events and served it on http://127.0.0.1:$port (stopped now).
$(command -v rsync > /dev/null && echo "quick-mirror synced $top-mirror from it twice, the second time with a delta." ||
    echo "quick-mirror was skipped: rsync is not installed (Scripts/test.sh installs it).")
  the tree:          $tree
  the mirror:        $top-mirror
  filelistd's log:   $run/filelistd.log  (its config: $run/filelistd.conf)
next:
  .build/debug/filelistd --config $run/filelistd.conf --runtime-directory $run --http 127.0.0.1:8080
  then change files under $tree and watch: curl -sN http://127.0.0.1:8080/events
  Scripts/install.sh installs release builds and the systemd units (docs/OPERATIONS.md)
SUMMARY
