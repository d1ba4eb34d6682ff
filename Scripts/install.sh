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
# CONFIGURATION=debug installs the debug build (what the tests already built).
#
# The release build links the Swift runtime and Foundation into each executable
# (--static-swift-stdlib), so what it installs needs no Swift toolchain: only glibc,
# libsystemd, zlib and libstdc++/libgcc_s, which every Debian and EL machine has.
# The same script, unpacked from the release tarball that Scripts/build-deb.sh makes
# (bin/ and man/ beside units/, no Package.swift), installs those prebuilt files
# instead of building.
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

scratch=$(mktemp -d /tmp/quickmirror-install.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
log=$scratch/log
if [[ -f Package.swift ]]; then
    # Release: the Swift runtime linked in. Debug stays dynamic: it is what the tests
    # build, and it runs only where the toolchain is.
    flags=()
    [[ $configuration == release ]] && flags=(--static-swift-stdlib)
    echo "building ($configuration; the first release build takes several minutes)"
    # Product by product: a plain `swift build` also builds the tests' fixtures, which
    # need the toolchain's Testing module, which has no static form. generate-manual is
    # the argument parser's own tool (the one its generate-manual plugin runs), built
    # with the same flags: the plugin cannot be told --static-swift-stdlib, and would
    # link the executables again without it, over this build.
    for product in "${executables[@]}" generate-manual; do
        if ! swift build -c "$configuration" "${flags[@]}" --product "$product" > "$log" 2>&1; then
            cat "$log" >&2
            echo "install.sh: building $product failed (above)" >&2
            exit 1
        fi
    done
    # Subcommand pages named as git's and systemd's are (filelistd-run.1, whose NAME says
    # filelistd-run), so that whatis and apropos file them under the name they carry; the
    # argument parser's page for its own `help` subcommand is left out; an empty line in a
    # description (not allowed in mdoc) becomes a paragraph break.
    subcommand_pages() { # subcommand_pages DIR EXECUTABLE
        local page base new
        for page in "$1"/*.1; do
            base=$(basename "$page" .1)
            if [[ $base == *.help ]]; then
                rm -f "$page"
                continue
            fi
            new=$base
            [[ $base == "$2" ]] || new=$2-${base#"$2".}
            new=${new//./-}
            awk -v exe="$2" -v new="$new" -v command="${base//./ }" '
                /^$/ { print ".Pp"; next }
                /^\.Xr [^ ]+\.help 1/ { next }
                /^\.Xr / && index($2, exe ".") == 1 { gsub(/\./, "-", $2); print; next }
                new == exe { print; next }
                /^\.Dt / { print ".Dt " toupper(new) " 1"; next }
                /^\.Nm "/ && !named { print ".Nm " new; named = 1; next }
                /^\.Nm$/ { print ".Nm \"" command "\""; next }
                { print }
            ' "$page" > "$1/$new.1.tmp"
            rm -f "$page"
            mv "$1/$new.1.tmp" "$1/$new.1"
        done
    }
    built=$(swift build -c "$configuration" "${flags[@]}" --show-bin-path)
    # One page per command and subcommand.
    pages=$scratch/man
    for executable in "${executables[@]}"; do
        mkdir -p "$pages/$executable"
        if ! "$built/generate-manual" "$built/$executable" --multi-page --output-directory "$pages/$executable" \
            > "$log" 2>&1; then
            cat "$log" >&2
            echo "install.sh: generating the man pages of $executable failed (above)" >&2
            exit 1
        fi
        subcommand_pages "$pages/$executable" "$executable"
    done
elif [[ -x bin/filelistd ]]; then
    # An unpacked release tarball: executables and man pages were built by build-deb.sh.
    echo "installing the prebuilt executables of $(pwd)"
    built=bin
    pages=man
else
    echo "install.sh: neither a source tree (Package.swift) nor a release tarball (bin/) in $(pwd)" >&2
    exit 1
fi

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

for page in "$pages"/*/*.1 "$pages"/*.1; do
    [[ -e $page ]] || continue
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
