#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs the system packages
# the tests use (when run as root and they are missing), checks that docs/ARCHITECTURE.md
# names the targets and edges Package.swift declares, builds once and tests (debug),
# runs the demo, then builds the release once (the Swift runtime linked in) and
# checks what is made of it: the installed files (check-install.sh), the .deb and the
# release tarball (build-deb.sh, lintian), and the .deb under a real systemd in a
# container (systemd-test.sh, which says so when the machine cannot run it); in CI or with
# QUICKMIRROR_THREE_HOSTS=1, three hosts in network namespaces under faults (three-hosts.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t packages < Scripts/packages.txt
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "test.sh: missing packages: ${missing[*]} (run as root, or apt-get install them)" >&2
        exit 1
    fi
fi

# The systemd test's root comes from Debian's mirrors the first time (then from its
# cache): fetch it while the build runs.
root_log=$(mktemp /tmp/quickmirror-root.XXXXXX.log)
Scripts/systemd-test.sh --prepare > "$root_log" 2>&1 &
root_job=$!

step() { # step NAME COMMAND...: runs it, and says how long it took
    local t=$SECONDS
    "${@:2}"
    echo "test.sh: $1 took $((SECONDS - t)) s"
}
# The module tables in docs/ARCHITECTURE.md against Package.swift (a second or two).
step "the architecture check" Scripts/check-architecture.py
step "the debug build" swift build --build-tests
# SWIFTNIO_STRICT: a task scheduled on an event loop that has stopped (a stop in the
# wrong order) crashes instead of printing an error and dropping the task.
step "the tests" env SWIFTNIO_STRICT=true swift test --skip-build
# README's first command, end to end (the build above is the one it uses).
demo_log=$(mktemp /tmp/quickmirror-demo.XXXXXX.log)
if ! Scripts/demo.sh "$(mktemp -d /tmp/quickmirror-demo-test.XXXXXX)" > "$demo_log" 2>&1; then
    cat "$demo_log" >&2
    echo "test.sh: Scripts/demo.sh failed (above)" >&2
    exit 1
fi
echo "test.sh: Scripts/demo.sh ran to its end (log: $demo_log)"

# The release build (the first takes several minutes), installed into a scratch prefix
# and checked as an operator would get it (units, man pages, no Swift library needed).
step "the release build and check-install" env CONFIGURATION=release Scripts/check-install.sh
# The same build, packaged: the .deb (lintian: no errors) and the release tarball.
step "the packages" Scripts/build-deb.sh
# The randomized invariant again on XFS, btrfs and a btrfs subvolume (loop-mounted images):
# some minutes more, so only when asked for.
if [[ ${QUICKMIRROR_FS_MATRIX:-} == 1 ]]; then
    step "the file system matrix" Scripts/fs-matrix.sh
fi
# The .deb under systemd as PID 1, and origin, tier 1 and tier 2 in three network
# namespaces under four faults (on the release build above, in CI or when asked for).
# Both mostly wait (for a timer, for links limited to 16 Mbit/s), so they run side by side.
three_hosts=0
if [[ ${CI:-} == true || ${QUICKMIRROR_THREE_HOSTS:-} == 1 ]]; then
    three_hosts=1
    three_hosts_log=$(mktemp /tmp/quickmirror-three-hosts.XXXXXX.log)
    three_hosts_started=$SECONDS
    Scripts/three-hosts.sh --bin .build/release > "$three_hosts_log" 2>&1 &
    three_hosts_job=$!
else
    echo "test.sh: skipped Scripts/three-hosts.sh (three hosts in network namespaces, four faults, about" \
        "4 min as root): it runs with CI=true or QUICKMIRROR_THREE_HOSTS=1"
fi
wait "$root_job" || true
cat "$root_log"
step "the systemd container test" Scripts/systemd-test.sh
if ((three_hosts)); then
    status=0
    wait "$three_hosts_job" || status=$?
    cat "$three_hosts_log"
    if ((status != 0)); then
        echo "test.sh: Scripts/three-hosts.sh failed (exit $status; above)" >&2
        exit 1
    fi
    echo "test.sh: the three-host fault test took $((SECONDS - three_hosts_started)) s (beside the systemd test)"
fi
