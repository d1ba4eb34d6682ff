#!/usr/bin/env bash
# Packages one staged release install (Scripts/install.sh with PREFIX=/usr and a DESTDIR)
# two ways, from the same files:
#   OUT/quickmirror_VERSION_ARCH.deb            for Debian and Ubuntu (checked by lintian)
#   OUT/quickmirror-VERSION-linux-MACHINE.tar.gz  for EL, Fedora and the rest: the same
#       executables, units, man pages, examples, sysusers file and docs, with install.sh,
#       which installs them without building (PREFIX=/usr/local by default).
# The executables carry the Swift runtime (--static-swift-stdlib): they need glibc,
# libsystemd, zlib, libstdc++ and libgcc_s at run time, and rsync, nothing from Swift.
#
# Usage: Scripts/build-deb.sh [OUT]     (OUT defaults to .build/packages)
#   VERSION=X.Y.Z overrides the file VERSION, MAINTAINER="Name <address>" the
#   package's maintainer; LINTIAN=0 skips lintian (it is run, and an error fails the
#   script, when lintian is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.build/packages}
version=${VERSION:-$(< VERSION)}
package=quickmirror
arch=$(dpkg --print-architecture)
machine=$(uname -m)
maintainer=${MAINTAINER:-"QuickMirror developers <quickmirror-devel@example.org>"}
executables=(create-filelist filelistd quick-mirror mirror-cache)

for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
    command -v $tool > /dev/null || {
        echo "build-deb.sh: $tool is needed (apt-get install dpkg-dev binutils)" >&2
        exit 1
    }
done

work=$(mktemp -d /tmp/quickmirror-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$out"

PREFIX=/usr DESTDIR=$root CONFIGURATION=release Scripts/install.sh
# dpkg keeps its own list of the files; install.sh's manifest is for --uninstall.
rm -rf "$root/usr/share/quickmirror"

# Debian policy: executables stripped (the DWARF of a release build is most of its
# size), man pages and long documents compressed, a copyright file and a changelog.
for executable in "${executables[@]}"; do
    strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/bin/$executable"
done
doc=$root/usr/share/doc/$package
gzip -9n "$root"/usr/share/man/man1/*.1
for file in "$doc"/*.md; do
    [[ $(stat -c %s "$file") -gt 4096 ]] && gzip -9n "$file"
done
cat > "$doc/copyright" << 'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: QuickMirror
Comment: Built from the QuickMirror sources by Scripts/build-deb.sh. The executables
 include the Swift runtime and Foundation (Apache-2.0 with Runtime Library Exception),
 swift-nio, swift-crypto (with BoringSSL), Hummingbird, async-http-client and the
 other Swift packages named in Package.swift, each under its own license.
 Copyright 2026 the QuickMirror developers.

Files: *
Copyright: 2026 the QuickMirror developers
License: unspecified
 The project has not chosen a license yet; until it does, no rights beyond running
 the software are granted.
COPYRIGHT
{
    echo "$package ($version) unstable; urgency=medium"
    echo
    echo "  * Built from $(git rev-parse --short HEAD 2> /dev/null || echo 'a source tree') by Scripts/build-deb.sh."
    echo
    echo " -- $maintainer  $(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2> /dev/null || date +%s)}")"
} | gzip -9n > "$doc/changelog.gz"

# swift-nio-extras builds zlib's own sources into NIOHTTPCompression (CNIOExtrasZlib),
# which async-http-client brings into every executable that speaks HTTP as a client: a
# copy Debian's zlib1g cannot replace without patching that package. Which executables
# carry it follows the code, so the overrides are made from the binaries themselves, with
# the pattern lintian looks for (zlib's version banner).
mkdir -p "$root/usr/share/lintian/overrides"
{
    echo "# swift-nio-extras compiles zlib's sources into its CNIOExtrasZlib module (used by"
    echo "# async-http-client's decompression); these executables are linked statically against it."
    for name in "${executables[@]}"; do
        if grep -a -q -E '(in|de)flate [0-9][ A-Za-z0-9_.-]{1,20}[A-Za-z0-9_.-]' "$root/usr/bin/$name"; then
            echo "embedded-library zlib [usr/bin/$name]"
        fi
    done
} > "$root/usr/share/lintian/overrides/$package"

# The release tarball: the same files, laid out as install.sh reads them when there is
# no Package.swift beside it.
tarname=$package-$version-linux-$machine
tree=$work/$tarname
mkdir -p "$tree/bin" "$tree/man" "$tree/Scripts" "$tree/docs"
cp -p "${executables[@]/#/$root/usr/bin/}" "$tree/bin/"
for page in "$root"/usr/share/man/man1/*.1.gz; do
    gzip -dc "$page" > "$tree/man/$(basename "$page" .gz)"
done
cp -rp units examples "$tree/"
cp -p docs/*.md "$tree/docs/"
cp -p README.md "$tree/"
cp -p Scripts/install.sh "$tree/Scripts/"
zcat "$doc/changelog.gz" > "$tree/CHANGES"
cp -p "$doc/copyright" "$tree/COPYRIGHT"
# The newest glibc symbol version the executables ask for (2.35 on Debian 12: hypot).
glibc=$(objdump -T "$tree"/bin/* | grep -o 'GLIBC_[0-9.]*' | sort -uV | sed -n '$s/GLIBC_//p')
cat > "$tree/INSTALL" << INSTALL
QuickMirror $version for Linux ($machine), built on $(. /etc/os-release && echo "$PRETTY_NAME").

As root:
  Scripts/install.sh                        # into /usr/local (PREFIX=/usr for /usr)
  systemctl daemon-reload && systemd-sysusers
  Scripts/install.sh --uninstall            # with the same PREFIX

Needs at run time: glibc $glibc or later, libsystemd, zlib, libstdc++ and libgcc_s, and
rsync. No Swift toolchain.
docs/OPERATIONS.md is the operator's guide.
INSTALL
tar -C "$work" --owner=0 --group=0 --numeric-owner --sort=name -czf "$out/$tarname.tar.gz" "$tarname"

# gzip, not xz: over the 280 MB of executables on 2 busy cores, xz (dpkg-deb's default
# level) took 4 minutes and xz -1 48 s, gzip 25 s, for a third more bytes (107 MB
# against 87 with xz -1). zstd would be quicker still, but lintian 2.116 refuses it.

# Dependencies: what the executables link (dpkg-shlibdeps reads them), and rsync.
mkdir -p "$work/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' $package $package > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "${executables[@]/#/root/usr/bin/}" 2> "$work/shlibdeps.log" |
    sed -n 's/^shlibs:Depends=//p') || {
    cat "$work/shlibdeps.log" >&2
    exit 1
}
rm -rf "$work/debian"

mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" << CONTROL
Package: $package
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $shlibs, rsync
Recommends: systemd
Section: net
Priority: optional
Description: fast file lists for distribution mirrors
 QuickMirror makes Fedora's fullfiletimelist cheap to produce and fast to
 follow: create-filelist (a drop-in for Fedora's generator), filelistd (keeps
 the list current from kernel events and serves it over HTTP with ETags, deltas
 and a change stream; filelistd relay for intermediate tiers), quick-mirror (a
 drop-in client for quick-fedora-mirror that syncs only what changed) and
 mirror-cache (a fetch-through HTTP cache for a site's machines).
 .
 The systemd units are installed but neither enabled nor started; the user
 mirror is created by systemd-sysusers.
CONTROL

# Maintainer scripts: make the user the units run as, tell systemd about the units,
# start nothing. On removal, units that run stop before their executable goes.
cat > "$root/DEBIAN/postinst" << 'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if command -v systemd-sysusers > /dev/null; then
        systemd-sysusers /usr/lib/sysusers.d/quickmirror.conf
    elif ! getent passwd mirror > /dev/null; then
        useradd --system --user-group --no-create-home --home-dir / --shell /usr/sbin/nologin \
            --comment "QuickMirror mirror tree owner" mirror
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload > /dev/null || true
    fi
fi
POSTINST
cat > "$root/DEBIAN/prerm" << 'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    deb-systemd-invoke stop 'filelistd*.service' 'filelistd*.socket' 'quick-mirror*.service' \
        quick-mirror.timer mirror-cache.service > /dev/null || true
fi
PRERM
cat > "$root/DEBIAN/postrm" << 'POSTRM'
#!/bin/sh
set -e
# The user mirror stays: it owns the mirror trees, which outlive the package.
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload > /dev/null || true
fi
POSTRM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

deb=$out/${package}_${version}_$arch.deb
dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" > /dev/null
echo "build-deb.sh: $deb ($(du -k "$deb" | cut -f1) KiB) and $out/$tarname.tar.gz ($(du -k "$out/$tarname.tar.gz" | cut -f1) KiB)"
dpkg-deb --info "$deb" | sed -n 's/^ Depends:/  Depends:/p'

if [[ ${LINTIAN:-1} != 0 ]] && command -v lintian > /dev/null; then
    # Errors fail the package; warnings and notes are printed for a person to read.
    lintian --fail-on error --tag-display-limit 0 "$deb" | tee "$out/lintian.txt" || {
        echo "build-deb.sh: lintian found errors in $deb (above)" >&2
        exit 1
    }
    echo "build-deb.sh: lintian: $(grep -c '^E:' "$out/lintian.txt" || true) errors, $(grep -c '^W:' "$out/lintian.txt" || true) warnings"
fi
