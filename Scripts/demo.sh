#!/usr/bin/env bash
# Builds create-filelist (release), makes a small mirror-shaped demo tree and publishes
# its fullfiletimelist the way a mirror master would. Usage: Scripts/demo.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
tree=${1:-/tmp/quickmirror-demo}

swift build -c release --product create-filelist
swift build -c release --product filelistd
bin=.build/release/create-filelist
daemon=.build/release/filelistd

rm -rf "$tree"
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
"$bin" -d "$tree" -c -s -t "$tree/fullfiletimelist" --if-changed -v
echo
cat "$tree/fullfiletimelist"
echo
"$bin" -d "$tree" -c -s -t "$tree/fullfiletimelist" --if-changed -v

# The daemon keeps the same list current from kernel events.
echo
echo "== filelistd: start, change the tree, watch the list follow"
run=$(mktemp -d /tmp/quickmirror-demo-run.XXXXXX)
"$daemon" --dir "$tree" -c --settle 0.5 --runtime-directory "$run" 2> "$run/filelistd.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$run"' EXIT
for _ in $(seq 50); do [[ -S $run/$(echo "${tree#/}" | tr / -).sock ]] && break; sleep 0.1; done
echo "demo update" > "$os/Packages/b/bash-5.2.27-1.fc40.x86_64.rpm"
sleep 1.5
"$daemon" status --dir "$tree" --runtime-directory "$run"
grep bash-5.2.27 "$tree/fullfiletimelist"
if "$bin" -d "$tree" -c -S fullfiletimelist | cmp -s - "$tree/fullfiletimelist"; then
    echo "filelistd's list is byte-identical to create-filelist's"
else
    echo "filelistd's list differs from create-filelist's" >&2
    exit 1
fi
