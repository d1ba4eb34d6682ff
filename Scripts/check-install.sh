#!/usr/bin/env bash
# Installs into a scratch prefix as an operator would (Scripts/install.sh), then checks
# what landed: every unit passes `systemd-analyze verify` with the installed
# executables in ExecStart, every service's exposure in `systemd-analyze security` is
# 2.0 or lower, every executable and subcommand has a man page, the examples are there,
# the sysusers.d file makes the user the units run as, and --uninstall leaves nothing
# behind. A release build (the default, as install.sh installs) must need no Swift
# library at run time: `ldd` names none.
# Usage: Scripts/check-install.sh   (CONFIGURATION=debug checks the debug build instead)
set -euo pipefail
cd "$(dirname "$0")/.."

stage=$(mktemp -d /tmp/quickmirror-stage.XXXXXX)
scratch=$(mktemp -d /tmp/quickmirror-units.XXXXXX)
trap 'rm -rf "$stage" "$scratch"' EXIT
failures=0
fail() { echo "check-install: $*" >&2; failures=$((failures + 1)); }

configuration=${CONFIGURATION:-release}
PREFIX=$stage CONFIGURATION=$configuration Scripts/install.sh

for executable in create-filelist filelistd quick-mirror mirror-cache; do
    [[ -x $stage/bin/$executable ]] || fail "$stage/bin/$executable is not installed"
    [[ -s $stage/share/man/man1/$executable.1 ]] || fail "no man page for $executable"
done
if [[ $configuration == release ]]; then
    for executable in create-filelist filelistd quick-mirror mirror-cache; do
        libraries=$(ldd "$stage/bin/$executable" 2>&1)
        if grep -Eqi 'swift|libFoundation|libdispatch|libBlocksRuntime|not found' <<< "$libraries"; then
            fail "$executable needs the Swift toolchain's libraries: $libraries"
        fi
    done
fi
for subcommand in filelistd-rescan filelistd-status filelistd-relay quick-mirror-follow; do
    [[ -s $stage/share/man/man1/$subcommand.1 ]] || fail "no man page for ${subcommand/-/ }"
done

units=$stage/lib/systemd/system
count=0
for unit in "$units"/*.service; do
    name=$(basename "$unit")
    # A template is verified as the instance an operator would enable.
    [[ $name == *@.service ]] && name=${name/@.service/@srv-mirror.service}
    cp "$unit" "$scratch/$name"
    grep -q "ExecStart=$stage/bin/" "$scratch/$name" || fail "$name: ExecStart does not name the installed executable"
    [[ $name == quick-mirror.service ]] && cp "$units/quick-mirror.timer" "$scratch/"
    extra=()
    [[ $name == quick-mirror.service ]] && extra=("$scratch/quick-mirror.timer")
    # A socket unit is verified with the service it starts.
    socket=$(basename "$unit" .service).socket
    if [[ -f $units/$socket ]]; then
        cp "$units/$socket" "$scratch/${name%.service}.socket"
        extra+=("$scratch/${name%.service}.socket")
    fi
    if ! output=$(systemd-analyze verify --man=no "$scratch/$name" "${extra[@]}" 2>&1) || [[ -n $output ]]; then
        fail "systemd-analyze verify $name: $output"
    fi
    # --threshold counts tenths: 20 is the 2.0 the README promises for every service.
    if ! output=$(systemd-analyze security --offline=true --threshold=20 "$scratch/$name" 2>&1); then
        figure=$(tail -1 <<< "$output" | grep -oE '[0-9]+\.[0-9]+' | tail -1)
        fail "$name: systemd-analyze security --offline=true gives ${figure:-no figure}, above 2.0"
    fi
    count=$((count + 1))
done
((count >= 7)) || fail "only $count services installed"

for socket in "$units"/*.socket; do
    [[ -e $socket ]] || continue
    service=$(basename "$socket" .socket).service
    [[ -f $units/$service ]] || fail "$(basename "$socket") has no $service to start"
done

# The units run as `mirror`: the installed sysusers.d file must create it.
mkdir -p "$scratch/root/etc"
if ! output=$(systemd-sysusers --root="$scratch/root" "$stage/lib/sysusers.d/quickmirror.conf" 2>&1); then
    fail "systemd-sysusers: $output"
fi
grep -q '^mirror:' "$scratch/root/etc/passwd" 2> /dev/null || fail "the sysusers.d file does not create the user mirror"
for unit in "$units"/*.service; do
    user=$(sed -n 's/^User=//p' "$unit")
    [[ -z $user ]] || grep -q "^$user:" "$scratch/root/etc/passwd" || fail "$(basename "$unit") runs as $user, which nothing creates"
done

for example in filelistd-pub.conf quick-fedora-mirror.conf rsyncd.conf.example; do
    [[ -s $stage/share/doc/quickmirror/examples/$example ]] || fail "example $example is not installed"
done

PREFIX=$stage Scripts/install.sh --uninstall
left=$(find "$stage" -type f | head -5)
[[ -z $left ]] || fail "--uninstall left files behind: $left"

if ((failures)); then
    echo "check-install: $failures problem(s)" >&2
    exit 1
fi
echo "check-install: $count services verified (exposure 2.0 or lower), man pages and examples installed, uninstall clean"
