#!/usr/bin/env bash
# Builds QuickMirror and installs it: the executables, the systemd units (with the
# installed path of the executables in ExecStart), man pages generated from the
# argument parser, and example configurations.
#
#   Scripts/install.sh                          # release build into /usr/local
#   PREFIX=/usr DESTDIR=/tmp/stage Scripts/install.sh    # a staging root (packaging)
#   Scripts/install.sh --uninstall              # removes what an install with the same
#                                               # PREFIX and DESTDIR put there
#
# PREFIX (default /usr/local) is where the files will live; DESTDIR (default empty) is
# prepended to every path written, so a package can be assembled without touching /.
# CONFIGURATION=debug installs the debug build (what the tests already built; CI uses it).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
configuration=${CONFIGURATION:-release}
executables=(create-filelist filelistd quick-mirror mirror-cache)

bindir=$prefix/bin
unitdir=$prefix/lib/systemd/system
sysusersdir=$prefix/lib/sysusers.d
mandir=$prefix/share/man/man1
docdir=$prefix/share/doc/quickmirror
manifest=$destdir$prefix/share/quickmirror/installed-files

case ${1:-} in
    --uninstall)
        if [[ ! -f $manifest ]]; then
            echo "install.sh: nothing to uninstall: $manifest does not exist (same PREFIX and DESTDIR as the install?)" >&2
            exit 1
        fi
        while IFS= read -r path; do
            rm -f -- "$destdir$path"
        done < "$manifest"
        rm -f -- "$manifest"
        rmdir --ignore-fail-on-non-empty "$destdir$docdir/examples" "$destdir$docdir" \
            "$destdir$prefix/share/quickmirror" 2> /dev/null || true
        echo "removed QuickMirror from $destdir$prefix"
        exit 0
        ;;
    "") ;;
    *)
        echo "usage: [PREFIX=DIR] [DESTDIR=DIR] [CONFIGURATION=release|debug] $0 [--uninstall]" >&2
        exit 2
        ;;
esac

log=$(mktemp /tmp/quickmirror-install.XXXXXX.log)
trap 'rm -f "$log"' EXIT
echo "building ($configuration; the first release build takes several minutes)"
if ! swift build -c "$configuration" > "$log" 2>&1; then
    cat "$log" >&2
    echo "install.sh: the build failed (above)" >&2
    exit 1
fi
built=$(swift build -c "$configuration" --show-bin-path)

# The argument parser's own plugin writes one page per command and subcommand; it
# reuses the build above.
if ! swift package plugin generate-manual --configuration "$configuration" --multi-page > "$log" 2>&1; then
    cat "$log" >&2
    echo "install.sh: generating the man pages failed (above)" >&2
    exit 1
fi
pages=.build/plugins/GenerateManual/outputs

installed=()
put() { # put MODE SOURCE TARGET: install one file and remember it for --uninstall
    install -D -m "$1" "$2" "$destdir$3"
    installed+=("$3")
}

for executable in "${executables[@]}"; do
    put 0755 "$built/$executable" "$bindir/$executable"
done

for template in units/*.in; do
    name=$(basename "$template" .in)
    rendered=$(mktemp)
    sed "s#@BINDIR@#$bindir#g" "$template" > "$rendered"
    put 0644 "$rendered" "$unitdir/$name"
    rm -f "$rendered"
done
for unit in units/*.timer units/*.socket; do
    put 0644 "$unit" "$unitdir/$(basename "$unit")"
done
put 0644 units/quickmirror.sysusers.conf "$sysusersdir/quickmirror.conf"

for page in "$pages"/*/*.1; do
    put 0644 "$page" "$mandir/$(basename "$page")"
done

for example in examples/*; do
    put 0644 "$example" "$docdir/examples/$(basename "$example")"
done
put 0644 README.md "$docdir/README.md"
for doc in docs/*.md; do
    put 0644 "$doc" "$docdir/$(basename "$doc")"
done

mkdir -p "$(dirname "$manifest")"
printf '%s\n' "${installed[@]}" > "$manifest"
echo "installed ${#installed[@]} files under $destdir$prefix (list: $manifest)"
if [[ -z $destdir ]]; then
    echo "units are in $unitdir: run 'systemctl daemon-reload', and 'systemd-sysusers' to create the user mirror"
fi
exit 0
