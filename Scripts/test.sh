#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs the system packages
# the tests use (when run as root and they are missing), then builds once and tests.
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

swift build --build-tests
swift test --skip-build
# Install into a scratch prefix and check what an operator would get (units, man pages).
Scripts/check-install.sh
# README's first command, end to end (the build above is the one it uses).
demo_log=$(mktemp /tmp/quickmirror-demo.XXXXXX.log)
if ! Scripts/demo.sh "$(mktemp -d /tmp/quickmirror-demo-test.XXXXXX)" > "$demo_log" 2>&1; then
    cat "$demo_log" >&2
    echo "test.sh: Scripts/demo.sh failed (above)" >&2
    exit 1
fi
echo "test.sh: Scripts/demo.sh ran to its end (log: $demo_log)"
