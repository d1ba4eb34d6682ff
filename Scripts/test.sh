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
