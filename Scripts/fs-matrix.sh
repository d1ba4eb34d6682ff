#!/usr/bin/env bash
# The randomized invariant (InvariantTests: our random operations and treechurn.py, with
# each event source) on other file systems than /tmp's: XFS, btrfs, and a btrfs
# subvolume, each a loop-mounted image made here and removed at the end. On the
# subvolume fanotify cannot mark (FAN_MARK_FILESYSTEM gives EXDEV): there the suite
# runs with `auto` (which must fall back to inotify and say so) and `inotify`, and an
# explicit `--events fanotify` must stop at once naming the error.
#
# Usage: Scripts/fs-matrix.sh [xfs] [btrfs] [btrfs-subvolume] [ext4]
#        (default: xfs btrfs btrfs-subvolume; /tmp, where the ordinary run makes its
#        trees, is ext4 here). Needs root, loop devices, xfsprogs and btrfs-progs, and
#        the test build (`swift build --build-tests`; BUILD_PATH=.build-x for another).
# Says plainly when it cannot run; with CI=true that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
filesystems=("$@")
((${#filesystems[@]})) || filesystems=(xfs btrfs btrfs-subvolume)
build=${BUILD_PATH:-.build}
bin=$build/debug

cannot() {
    if [[ ${CI:-} == true ]]; then
        echo "fs-matrix: FAILED: this machine cannot run the file system matrix: $*" >&2
        exit 1
    fi
    echo "fs-matrix: SKIPPED: this machine cannot run the file system matrix: $*"
    exit 0
}
[[ $(id -u) -eq 0 ]] || cannot "it needs root (mount)"
for tool in losetup mkfs.xfs mkfs.btrfs btrfs mkfs.ext4; do
    command -v $tool > /dev/null || cannot "$tool is not installed (Scripts/packages.txt names its package)"
done
[[ -x $bin/filelistd && -x $bin/QuickMirrorPackageTests.xctest ]] ||
    { echo "fs-matrix: no test build in $build (swift build --build-tests first)" >&2; exit 1; }

# A short path: the daemons' control sockets live below it, and a socket's path has at
# most 107 bytes.
work=$(mktemp -d /tmp/qmfs.XXXXXX)
cleanup() {
    if mountpoint -q "$work/m"; then umount "$work/m" 2> /dev/null || umount -l "$work/m"; fi
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/m"
failures=0

for fs in "${filesystems[@]}"; do
    image=$work/$fs.img
    # XFS needs 300 MB at least; the trees of the suite take a few tens.
    truncate -s 512M "$image"
    case $fs in
        xfs) mkfs.xfs -q -f "$image" ;;
        btrfs | btrfs-subvolume) mkfs.btrfs -q -f "$image" > /dev/null ;;
        ext4) mkfs.ext4 -q -F "$image" ;;
        *) echo "fs-matrix: unknown file system $fs" >&2; exit 2 ;;
    esac
    mount -o loop "$image" "$work/m" || cannot "mount -o loop of a $fs image failed"
    dir=$work/m
    events="inotify fanotify"
    if [[ $fs == btrfs-subvolume ]]; then
        btrfs -q subvolume create "$work/m/v"
        dir=$work/m/v
        events="auto inotify"
        # fanotify cannot mark a subvolume: asked for, it stops; left to choose, it falls back.
        mkdir -p "$dir/probe/a" && echo x > "$dir/probe/a/f"
        if output=$(timeout 20 "$bin/filelistd" --dir "$dir/probe" --events fanotify --runtime-directory "$work/run" 2>&1); then
            echo "fs-matrix: FAILED: $fs: filelistd --events fanotify ran on a subvolume" >&2
            failures=$((failures + 1))
        elif grep -q 'cannot use fanotify.*EXDEV\|cannot use fanotify.*cross-device' <<< "$output"; then
            echo "fs-matrix: ok: $fs: --events fanotify stops at once: $(grep -o 'cannot use fanotify.*' <<< "$output" | sed -n 1p)"
        else
            echo "fs-matrix: FAILED: $fs: --events fanotify did not name EXDEV: $output" >&2
            failures=$((failures + 1))
        fi
        "$bin/filelistd" --dir "$dir/probe" --events auto --runtime-directory "$work/run-auto" 2> "$work/auto.log" &
        probe=$!
        for _ in $(seq 100); do grep -q 'following changes with' "$work/auto.log" && break; sleep 0.1; done
        kill "$probe" && wait "$probe" || true
        if grep -q 'fanotify refused; using inotify' "$work/auto.log" && grep -q 'following changes with inotify' "$work/auto.log"; then
            echo "fs-matrix: ok: $fs: --events auto says once why it falls back: $(grep -o 'fanotify refused.*' "$work/auto.log" | sed -n 1p)"
        else
            cat "$work/auto.log" >&2
            echo "fs-matrix: FAILED: $fs: --events auto did not fall back to inotify with its reason (log above)" >&2
            failures=$((failures + 1))
        fi
        rm -rf "$dir/probe"
    fi
    start=$SECONDS
    echo "fs-matrix: $fs ($(stat -f -c %T "$dir") at $dir): InvariantTests with $events"
    if QUICKMIRROR_TEST_DIR=$dir QUICKMIRROR_TEST_EVENTS=$events \
        swift test --skip-build --scratch-path "$build" --filter InvariantTests > "$work/$fs.log" 2>&1; then
        echo "fs-matrix: ok: $fs: $(grep -E 'Test run with|passed after' "$work/$fs.log" | tail -1) ($((SECONDS - start)) s)"
    else
        cat "$work/$fs.log" >&2
        echo "fs-matrix: FAILED: $fs: InvariantTests (above)" >&2
        failures=$((failures + 1))
    fi
    umount "$work/m"
    rm -f "$image"
done

((failures == 0)) || { echo "fs-matrix: $failures failure(s)" >&2; exit 1; }
echo "fs-matrix: the invariant holds on ${filesystems[*]}"
