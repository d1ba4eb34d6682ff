#!/usr/bin/env bash
# The package under a real systemd: boots a minimal Debian 12 in a container
# (systemd-nspawn, systemd as PID 1, no network but its own loopback), installs
# quickmirror_VERSION_ARCH.deb in it with apt, and checks, with the units exactly as
# shipped:
#   - the package: the user mirror exists, systemd knows the units, nothing started,
#     the executables link no Swift library (the root has no toolchain);
#   - filelistd-modules-http.socket + .service on a generated tree under /srv/pub: the
#     lists on port 8080 with their ETags (the SHA-256 of the file), a change in the
#     list and on /events within seconds, `systemctl reload` runs a verification scan
#     (the journal says so), `systemctl status` shows the daemon's status text, no
#     watchdog timeout and no restart over more than a minute of idle, the lists
#     readable by the rsync module's user (nobody), `systemctl stop` ends it cleanly;
#   - quick-mirror.timer fires (OnBootSec=2min and its random delay: 2-3 minutes after
#     boot), and the run syncs /srv/mirror as the user mirror from the rsync daemon
#     (Debian's rsync.service), the lists over HTTP, and installs the lists;
#   - quick-mirror-follow.service follows: a change at the origin reaches /srv/mirror;
#   - filelistd-relay@srv-mirror.service serves the installed lists, and
#     mirror-cache.service serves through its cache;
#   - `systemd-analyze security` of each service, loaded by the running manager, gives
#     the same exposure as `--offline=true` on the same unit file;
#   - `apt-get remove` stops what runs and leaves nothing active.
# A unit that fails a check has its journal printed here.
#
# Usage: Scripts/systemd-test.sh [DEB]      (default .build/packages/quickmirror_VERSION_ARCH.deb,
#                                            made by Scripts/build-deb.sh)
#        Scripts/systemd-test.sh --prepare  (only make the cached root; CI starts it early)
# The root (debootstrap --variant=minbase, ~250 MB, a minute or more to download) is
# kept in $QUICKMIRROR_CI_CACHE (default /var/cache/quickmirror-ci) and copied for each
# run; DEBIAN_MIRROR names another Debian mirror. It needs root with CAP_SYS_ADMIN,
# debootstrap, systemd-nspawn (systemd-container), loop devices and mkfs.ext4. Where
# the machine cannot run it, it says why and exits 0, but with CI=true it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
cache=${QUICKMIRROR_CI_CACHE:-/var/cache/quickmirror-ci}
suite=bookworm
include=systemd,systemd-sysv,dbus,rsync,ca-certificates,curl
mirror_url=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=$cache/$suite-minbase
stamp="debootstrap --variant=minbase --include=$include $suite $mirror_url"

say() { echo "systemd-test: $*"; }
cannot() {
    if [[ ${CI:-} == true ]]; then
        say "FAILED: this machine cannot run the systemd container test: $*" >&2
        exit 1
    fi
    say "SKIPPED: this machine cannot run the systemd container test: $*"
    exit 0
}

# --- Can this machine run it? ----------------------------------------------------------
[[ $(id -u) -eq 0 ]] || cannot "it needs root"
for tool in debootstrap systemd-nspawn nsenter losetup mkfs.ext4 flock; do
    command -v $tool > /dev/null || cannot "$tool is not installed (Scripts/packages.txt names its package)"
done
unshare --mount --pid --fork true 2> /dev/null || cannot "no CAP_SYS_ADMIN (unshare --mount --pid fails)"
[[ -d /sys/fs/cgroup ]] || cannot "no cgroup file system"

# --- The cached root ---------------------------------------------------------------------
prepare_root() {
    mkdir -p "$cache"
    exec 9> "$cache/.lock"
    flock 9
    if [[ -f $base/.quickmirror-root && $(< "$base/.quickmirror-root") == "$stamp" ]]; then
        return 0
    fi
    say "making the cached root $base ($stamp)"
    rm -rf "$base.new"
    local log=$cache/debootstrap.log
    if ! debootstrap --variant=minbase --include=$include $suite "$base.new" "$mirror_url" > "$log" 2>&1; then
        tail -20 "$log" >&2
        rm -rf "$base.new"
        cannot "debootstrap of $suite from $mirror_url failed (log above; no network to Debian's mirrors?)"
    fi
    chroot "$base.new" apt-get clean
    echo quickmirror-test > "$base.new/etc/hostname"
    echo "$stamp" > "$base.new/.quickmirror-root"
    rm -rf "$base"
    mv "$base.new" "$base"
    flock -u 9
}
if [[ ${1:-} == --prepare ]]; then
    t=$SECONDS
    prepare_root
    say "the root is ready in $base ($((SECONDS - t)) s)"
    exit 0
fi

deb=${1:-.build/packages/quickmirror_$(< VERSION)_$(dpkg --print-architecture).deb}
[[ -f $deb ]] || { say "no package at $deb (Scripts/build-deb.sh makes it)" >&2; exit 1; }
t=$SECONDS
prepare_root
say "root ready ($((SECONDS - t)) s)"

# --- A copy of the root, a file system for /srv, the container ---------------------------
work=$(mktemp -d /var/tmp/quickmirror-systemd-test.XXXXXX)
machine=quickmirror-test-$$
root=$work/root
nspawn=
pid=
cleanup() {
    if [[ -n $nspawn ]] && kill -0 "$nspawn" 2> /dev/null; then
        [[ -n $pid ]] && inside systemctl poweroff --no-block > /dev/null 2>&1 || kill -TERM "$nspawn" 2> /dev/null || true
        for _ in $(seq 100); do kill -0 "$nspawn" 2> /dev/null || break; sleep 0.1; done
        kill -KILL "$nspawn" 2> /dev/null || true
        wait "$nspawn" 2> /dev/null || true
    fi
    mountpoint -q "$work/srv" && umount "$work/srv"
    rm -rf "$work" "/run/systemd/nspawn/propagate/$machine"
}
trap cleanup EXIT

cp -a --reflink=auto "$base" "$root"
mkdir -p "$work/pkg" "$work/srv"
cp "$deb" "$work/pkg/"
# /srv is a file system of its own, as a mirror's tree is: filelistd's fanotify mark
# covers that file system, not the host's, whose other writers would flood it.
truncate -s 512M "$work/srv.img"
mkfs.ext4 -q -F "$work/srv.img"
mount -o loop "$work/srv.img" "$work/srv"

# The origin's tree: two modules, a few thousand files, shaped like Fedora's, with hard
# links, symlinks and a directory others may not read.
make_tree() {
    local top=$work/srv/pub letter n dir
    for letter in {a..z}; do
        dir=$top/fedora/linux/releases/41/Everything/x86_64/os/Packages/$letter
        mkdir -p "$dir"
        for n in $(seq 1 70); do printf '%s package %s\n' "$letter" "$n" > "$dir/$letter-pkg-$n.fc41.x86_64.rpm"; done
        dir=$top/epel/9/Everything/x86_64/Packages/$letter
        mkdir -p "$dir"
        for n in $(seq 1 40); do printf 'epel %s %s\n' "$letter" "$n" > "$dir/$letter-epel-$n.el9.x86_64.rpm"; done
    done
    local os=$top/fedora/linux/releases/41/Everything/x86_64/os
    mkdir -p "$os/repodata" "$top/fedora/linux/releases/41/Server/x86_64/os/Packages" "$top/epel/9/Everything/x86_64/repodata"
    printf '<repomd revision="1"/>\n' > "$os/repodata/repomd.xml"
    printf '<repomd revision="1"/>\n' > "$top/epel/9/Everything/x86_64/repodata/repomd.xml"
    for n in 1 2 3; do ln "$os/Packages/b/b-pkg-$n.fc41.x86_64.rpm" "$top/fedora/linux/releases/41/Server/x86_64/os/Packages/"; done
    ln -s 41 "$top/fedora/linux/releases/latest"
    mkdir -p "$top/fedora/linux/embargoed" && echo "not yet" > "$top/fedora/linux/embargoed/next.iso"
    chmod 750 "$top/fedora/linux/embargoed"
}
make_tree
files=$(find "$work/srv/pub" -type f | wc -l)

say "booting $root (systemd-nspawn -b --private-network)"
# nspawn's own system call filter refuses fanotify_init, fanotify_mark and
# open_by_handle_at to a container; a host has no such filter, and the units allow them.
systemd-nspawn -D "$root" -b --private-network --register=no --keep-unit --machine="$machine" \
    --system-call-filter='fanotify_init fanotify_mark open_by_handle_at' \
    --bind="$work/srv:/srv" --bind-ro="$work/pkg:/mnt/pkg" --console=read-only > "$work/console.log" 2>&1 &
nspawn=$!
# The container's PID 1 is nspawn's child once it has started.
for _ in $(seq 100); do
    pid=$(ps -o pid= --ppid "$nspawn" 2> /dev/null | awk 'NR == 1 { print $1 }' || true)
    [[ -n $pid && $(cat "/proc/$pid/comm" 2> /dev/null) == systemd ]] && break
    pid=
    sleep 0.1
done
boot=$SECONDS
booted=$(date +%s)
# inside CMD...: a command in the container, as if run on its console.
inside() {
    nsenter -t "$pid" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}
if [[ -z $pid ]]; then
    cat "$work/console.log" >&2
    say "FAILED: the container did not start (console above)" >&2
    exit 1
fi
# Until systemd's own socket is up, systemctl cannot ask it anything.
state=
for _ in $(seq 600); do
    state=$(timeout 120 nsenter -t "$pid" -a systemctl is-system-running --wait 2> /dev/null || true)
    [[ -n $state ]] && break
    sleep 0.1
done
if [[ $state != running ]]; then
    cat "$work/console.log" >&2
    inside systemctl --failed --no-pager >&2 || true
    say "FAILED: the container's systemd is '$state', not 'running' (console above)" >&2
    exit 1
fi
say "systemd $(inside systemctl --version | awk 'NR == 1 { print $2 }') is running in the container ($((SECONDS - boot)) s after start)"

# --- Checks ------------------------------------------------------------------------------
failures=0
passed=0
ok() { say "ok: $*"; passed=$((passed + 1)); }
# bad UNIT MESSAGE: a failed check; the unit's journal goes with it.
bad() {
    local unit=$1
    shift
    say "FAILED: $*" >&2
    failures=$((failures + 1))
    if [[ -n $unit ]]; then
        echo "---- systemctl status $unit; journalctl -u $unit (last 60 lines) ----" >&2
        inside systemctl status --no-pager -l "$unit" >&2 || true
        inside journalctl -u "$unit" -n 60 --no-pager -o short-monotonic >&2 || true
        echo "----" >&2
    fi
}
# wait_until SECONDS COMMAND...: until COMMAND succeeds; 1 when time runs out.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" > /dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
prop() { inside systemctl show -p "$2" --value "$1"; }
journal_has() { inside journalctl -u "$1" --no-pager -o cat | grep -q "$2"; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
active() { [[ $(prop "$1" ActiveState) == active ]]; }

# The package, installed the way an operator would.
if out=$(inside apt-get install -y --no-install-recommends "/mnt/pkg/$(basename "$deb")" 2>&1); then
    ok "apt-get install $(basename "$deb")"
else
    echo "$out" >&2
    bad "" "apt-get install failed (above)"
    exit 1
fi
inside getent passwd mirror > /dev/null && ok "postinst made the user mirror (systemd-sysusers)" ||
    bad "" "the user mirror does not exist after the install"
shipped=$(inside dpkg -L quickmirror | grep -c '/systemd/system/.' || true)
units=$(inside systemctl list-unit-files --no-legend 'filelistd*' 'quick-mirror*' 'mirror-cache*' | wc -l)
((units == shipped && units > 0)) && ok "systemd knows the package's $shipped unit files without a daemon-reload by hand" ||
    bad "" "systemd lists $units of the package's $shipped unit files"
running=$(inside systemctl list-units --no-legend --state=active 'filelistd*' 'quick-mirror*' 'mirror-cache*')
[[ -z $running ]] && ok "the install started nothing" || bad "" "the install started units: $running"
swiftlibs=$(inside bash -c 'ldd /usr/bin/create-filelist /usr/bin/filelistd /usr/bin/quick-mirror /usr/bin/mirror-cache' |
    grep -Eci 'swift|Foundation|not found' || true)
inside bash -c 'ls -d /opt/swift /usr/lib/swift /usr/share/swift 2>/dev/null' > /dev/null && bad "" "the root has a Swift toolchain"
((swiftlibs == 0)) && ok "the executables need no Swift library ($(inside ldd /usr/bin/filelistd | grep -c '=>') shared libraries, none Swift's)" ||
    bad "" "the executables link Swift libraries or miss some: $(inside ldd /usr/bin/filelistd)"

# The origin: filelistd for /srv/pub's modules behind its socket, and an rsync daemon.
mkdir -p "$root/etc/filelistd"
cat > "$root/etc/filelistd/pub.conf" << 'EOF'
top = /srv/pub
modules = fedora epel
checksum = yes
settle = 1
EOF
cat > "$root/etc/rsyncd.conf" << 'EOF'
uid = nobody
gid = nogroup
use chroot = yes
read only = yes
exclude = .~tmp~/
[pub]
    path = /srv/pub
EOF
inside systemctl enable --now --quiet filelistd-modules-http.service rsync.service ||
    bad filelistd-modules-http.service "systemctl enable --now filelistd-modules-http.service rsync.service failed"
if wait_until 60 active filelistd-modules-http.service; then
    ok "filelistd-modules-http.service is active (Type=notify: READY=1 after the scan of $files files)"
else
    bad filelistd-modules-http.service "filelistd-modules-http.service did not become active"
fi
active filelistd-modules-http.socket && ok "filelistd-modules-http.socket is active (enabled with its service, Also=)" ||
    bad filelistd-modules-http.socket "filelistd-modules-http.socket is not active"
origin_pid=$(prop filelistd-modules-http.service MainPID)

list=/srv/pub/fedora/fullfiletimelist-fedora
etag_of() { inside curl -fsSI "$1" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: *"\(.*\)"$/\1/p'; }
sha_of() { inside sha256sum "$1" | cut -d' ' -f1; }
# A list's ETag is its list digest (docs/FORMAT.md), computed here by the project's
# independent reference, from the file as the container holds it.
digest_of() { inside cat "$1" | python3 Scripts/list-digest.py /dev/stdin | cut -d' ' -f1; }
etag=$(etag_of "http://127.0.0.1:8080/fedora/fullfiletimelist-fedora" || true)
if [[ -n $etag && $etag == "$(digest_of $list)" ]]; then
    ok "GET :8080/fedora/fullfiletimelist-fedora has ETag \"${etag:0:16}...\", the list digest of the list"
else
    bad filelistd-modules-http.service "the list's ETag is '$etag', not the list digest of $list"
fi
entries=$(inside grep -c $'\t' $list || true)
fedora_files=$(find "$work/srv/pub/fedora" -type f | wc -l)
((entries > fedora_files)) && ok "the fedora list has $entries entries ($fedora_files files and their directories)" ||
    bad filelistd-modules-http.service "the fedora list has $entries entries, for $fedora_files files"
if journal_has filelistd-modules-http.service 'following changes with fanotify'; then
    ok "filelistd follows /srv with fanotify (the unit's CAP_SYS_ADMIN and system call filter allow it)"
else
    bad filelistd-modules-http.service "filelistd does not use fanotify: $(inside journalctl -u filelistd-modules-http.service -o verbose --no-pager | grep -E '^ *WHY=' | tr '\n' ' ')"
fi
status=$(inside systemctl status --no-pager filelistd-modules-http.service | sed -n 's/^ *Status: //p')
[[ $status == *"entries, generation"* ]] && ok "systemctl status shows the daemon's status: $status" ||
    bad filelistd-modules-http.service "systemctl status shows no status text from filelistd ('$status')"
if inside runuser -u nobody -- cat $list /srv/pub/fedora/fullfilelist /srv/pub/epel/fullfiletimelist-epel > /dev/null; then
    ok "the lists are readable by nobody, the rsync module's user ($(inside stat -c %A $list))"
else
    bad "" "the lists are not readable by nobody: $(inside ls -l /srv/pub/fedora)"
fi

# A change: in the list and on /events within seconds.
inside systemd-run --quiet --unit=quickmirror-test-events -p StandardOutput=file:/root/events.log \
    curl -sN http://127.0.0.1:8080/events
wait_until 10 inside grep -q '^event: lists' /root/events.log || bad quickmirror-test-events.service "no announcement on /events"
changed=$(date +%s.%N)
new=fedora/linux/releases/41/Everything/x86_64/os/Packages/n/n-new-1.fc41.x86_64.rpm
inside bash -c "mkdir -p /srv/pub/${new%/*} && echo new > /srv/pub/$new"
if wait_until 30 inside grep -q "${new#fedora/}" $list; then
    new_sha=$(digest_of $list)
    if wait_until 10 inside grep -q "$new_sha" /root/events.log; then
        ok "a new file is in the list and its new ETag on /events $(since "$changed") s after the change"
    else
        bad filelistd-modules-http.service "the new list's ETag is not on /events: $(inside tail -5 /root/events.log)"
    fi
else
    bad filelistd-modules-http.service "the new file is not in the list 30 s after it was made"
fi
[[ $(etag_of "http://127.0.0.1:8080/fedora/fullfiletimelist-fedora") == "$(digest_of $list)" ]] &&
    ok "the served ETag follows the new list" || bad filelistd-modules-http.service "the served ETag is not the new list's"
inside systemctl stop quickmirror-test-events.service || true

# Reload: a verification scan, said in the journal; the service stays up.
inside systemctl reload filelistd-modules-http.service || bad filelistd-modules-http.service "systemctl reload failed"
if wait_until 30 journal_has filelistd-modules-http.service 'rescan found no drift'; then
    ok "systemctl reload ran a verification scan: $(inside journalctl -u filelistd-modules-http.service --no-pager -o cat | grep 'rescan' | tail -2 | tr '\n' ' ')"
else
    bad filelistd-modules-http.service "systemctl reload: no 'rescan found no drift' in the journal"
fi
active filelistd-modules-http.service && [[ $(prop filelistd-modules-http.service MainPID) == "$origin_pid" ]] &&
    ok "the service is still active, same process, after the reload" || bad filelistd-modules-http.service "the reload restarted or stopped it"
idle_since=$SECONDS

# The downstream tier: the timer's sync, the relay, the cache.
cat > "$root/etc/quick-fedora-mirror.conf" << 'EOF'
DESTD=/srv/mirror
REMOTE=rsync://127.0.0.1
MASTERMODULE=pub
MODULES=(fedora-enchilada fedora-epel)
LISTSOURCE=http://127.0.0.1:8080
NOTIFYFILELISTD=/run/filelistd-relay
EOF
cat > "$root/etc/default/filelistd-relay-srv-mirror" << 'EOF'
RELAY_OPTS=--list fedora/fullfiletimelist-fedora --list epel/fullfiletimelist-epel --http 127.0.0.1:8081 --name tier1
EOF
cat > "$root/etc/default/mirror-cache" << 'EOF'
MIRROR_CACHE_OPTS=--upstream http://127.0.0.1:8080
EOF
inside bash -c 'mkdir -p /srv/mirror && chown mirror:mirror /srv/mirror'
inside systemctl enable --now --quiet quick-mirror.timer filelistd-relay@srv-mirror.service mirror-cache.service ||
    bad "" "systemctl enable --now quick-mirror.timer filelistd-relay@srv-mirror.service mirror-cache.service failed"
wait_until 30 active filelistd-relay@srv-mirror.service && ok "filelistd-relay@srv-mirror.service is active" ||
    bad filelistd-relay@srv-mirror.service "filelistd-relay@srv-mirror.service did not become active"
if wait_until 30 active mirror-cache.service; then
    ok "mirror-cache.service is active ($(prop mirror-cache.service StatusText))"
else
    bad mirror-cache.service "mirror-cache.service did not become active"
fi
cached() { inside curl -fsS -o /root/cached http://127.0.0.1:3142/fedora/fullfiletimelist-fedora && [[ $(sha_of /root/cached) == "$(sha_of $list)" ]]; }
if cached && cached; then
    # The request log is written behind the responses: wait for its line.
    logged_hit() { inside journalctl -u mirror-cache.service --no-pager -o cat | grep -q 'served=hit'; }
    wait_until 10 logged_hit && ok "mirror-cache serves the origin's list through its cache (the second request a hit)" ||
        bad mirror-cache.service "mirror-cache: no hit logged for the second request"
else
    bad mirror-cache.service "mirror-cache does not serve the origin's list"
fi

# systemd-analyze security: the running manager's figure and the offline one agree.
exposure() { sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p'; }
inside mkdir -p /root/offline
for unit in filelistd-modules-http.service filelistd-modules.service filelistd@srv-pub-fedora.service \
    filelistd-http@srv-pub-fedora.service filelistd-relay@srv-mirror.service quick-mirror.service \
    quick-mirror-follow.service mirror-cache.service; do
    template=${unit/@*./@.}
    inside cp "/usr/lib/systemd/system/$template" "/root/offline/$unit"
    online=$(inside systemd-analyze security --no-pager "$unit" 2>&1 | exposure)
    offline=$(inside systemd-analyze security --no-pager --offline=true "/root/offline/$unit" 2>&1 | exposure)
    state=$(prop "$unit" ActiveState)
    if [[ -n $online && $online == "$offline" ]]; then
        ok "systemd-analyze security $unit ($state): $online, as offline"
    else
        bad "" "systemd-analyze security $unit ($state): '$online' running, '$offline' offline"
    fi
done

# The timer fires 2-3 minutes after boot; by then filelistd has been idle for a minute.
say "waiting for quick-mirror.timer (OnBootSec=2min, RandomizedDelaySec=60)"
ran() { [[ $(prop quick-mirror.service ExecMainExitTimestampMonotonic) != 0 ]] && [[ $(prop quick-mirror.service ActiveState) != activating ]]; }
if wait_until 240 ran; then
    result=$(prop quick-mirror.service Result)
    [[ $result == success && $(prop quick-mirror.service ExecMainStatus) == 0 ]] &&
        ok "quick-mirror.timer fired $(($(date -d "$(prop quick-mirror.service ExecMainStartTimestamp)" +%s) - booted)) s after boot; the run succeeded" ||
        bad quick-mirror.service "quick-mirror.service ran with result $result"
else
    bad quick-mirror.timer "quick-mirror.timer did not start quick-mirror.service within 4 minutes"
fi
synced=/srv/mirror/fedora/linux/releases/41/Everything/x86_64/os/Packages/b/b-pkg-1.fc41.x86_64.rpm
owner=$(inside stat -c %U $synced 2> /dev/null || true)
[[ $owner == mirror ]] && ok "the sync ran as mirror (the files it made are mirror's)" ||
    bad quick-mirror.service "$synced is owned by '$owner', not mirror"
if inside cmp -s $list /srv/mirror/fedora/fullfiletimelist-fedora &&
    inside cmp -s /srv/pub/epel/fullfiletimelist-epel /srv/mirror/epel/fullfiletimelist-epel &&
    inside test -f "/srv/mirror/$new"; then
    ok "the sync installed both modules' lists (identical to the origin's) and the files"
else
    bad quick-mirror.service "the mirror's lists differ from the origin's, or the files are missing"
fi
inside test ! -e /srv/mirror/fedora/linux/embargoed/next.iso && ok "the restricted directory stayed at the origin" ||
    bad quick-mirror.service "a restricted file was mirrored"
relay_etag=$(etag_of http://127.0.0.1:8081/fedora/fullfiletimelist-fedora || true)
[[ $relay_etag == "$(digest_of $list)" ]] && ok "the relay serves the installed list with the origin's ETag" ||
    bad filelistd-relay@srv-mirror.service "the relay's ETag is '$relay_etag', not the origin's"

# The watchdog: over a minute of idle, no timeout and no restart.
((SECONDS - idle_since >= 65)) || sleep $((65 - (SECONDS - idle_since)))
if active filelistd-modules-http.service && [[ $(prop filelistd-modules-http.service MainPID) == "$origin_pid" &&
    $(prop filelistd-modules-http.service NRestarts) == 0 ]] &&
    ! inside journalctl -u filelistd-modules-http.service --no-pager | grep -qi watchdog; then
    ok "no watchdog timeout over $((SECONDS - idle_since)) s of idle (WatchdogSec=60): same process, 0 restarts"
else
    bad filelistd-modules-http.service "the watchdog fired or the service restarted while idle"
fi

# Follow mode instead of the timer: a change at the origin reaches the mirror and the relay.
inside systemctl disable --now --quiet quick-mirror.timer || bad quick-mirror.timer "systemctl disable --now quick-mirror.timer failed"
inside systemctl start quick-mirror-follow.service || true
wait_until 30 active quick-mirror-follow.service && ok "quick-mirror-follow.service is active" ||
    bad quick-mirror-follow.service "quick-mirror-follow.service did not start"
sleep 2
changed=$(date +%s.%N)
second=epel/9/Everything/x86_64/Packages/z/z-epel-new.el9.x86_64.rpm
inside bash -c "echo followed > /srv/pub/$second"
if wait_until 60 inside test -f "/srv/mirror/$second"; then
    relayed() { [[ $(etag_of http://127.0.0.1:8081/epel/fullfiletimelist-epel) == "$(digest_of /srv/pub/epel/fullfiletimelist-epel)" ]]; }
    wait_until 20 relayed &&
        ok "follow: a new file at the origin is at the mirror, and its list at the relay, $(since "$changed") s after the change" ||
        bad filelistd-relay@srv-mirror.service "follow: the relay does not serve the new epel list"
    [[ $(inside stat -c %U "/srv/mirror/$second") == mirror ]] || bad quick-mirror-follow.service "follow: the new file is not mirror's"
else
    bad quick-mirror-follow.service "follow: the new file did not reach /srv/mirror within 60 s"
fi

# Stop: clean.
inside systemctl stop filelistd-modules-http.service || true
result=$(prop filelistd-modules-http.service Result)
code=$(prop filelistd-modules-http.service ExecMainStatus)
if [[ $result == success && $code == 0 ]] && journal_has filelistd-modules-http.service stopping; then
    ok "systemctl stop: filelistd exited with status 0 (result $result)"
else
    bad filelistd-modules-http.service "systemctl stop: result $result, status $code"
fi

failed=$(inside systemctl list-units --failed --no-legend --plain | awk '{print $1}')
for unit in $failed; do bad "$unit" "$unit has failed"; done

# Removal: what runs stops, the user stays.
inside apt-get remove -y -qq quickmirror > /dev/null 2>&1 || bad "" "apt-get remove quickmirror failed"
running=$(inside systemctl list-units --no-legend --state=active 'filelistd*' 'quick-mirror*' 'mirror-cache*')
[[ -z $running && ! -e $root/usr/bin/filelistd ]] && ok "apt-get remove stopped every unit and removed the executables" ||
    bad "" "after apt-get remove: still active: $running"

say "$passed passed, $failures failed ($((SECONDS - started)) s in all, $((SECONDS - boot)) s in the container)"
((failures == 0))
