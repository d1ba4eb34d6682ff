#!/usr/bin/env bash
# Three hosts: the origin (tier 0), tier 1 and tier 2 in three network namespaces joined
# by veth pairs, each link limited with tbf, and four faults while the origin's tree
# keeps changing:
#
#   link    the tier 0 - tier 1 link goes down while a file is crossing it, and comes back
#   origin  the origin's filelistd is SIGKILLed, then started again
#   tier1   tier 1's relay and quick-mirror are restarted (SIGTERM to each process group,
#           as systemctl restart does) while tier 2 follows
#   disk    tier 1's mirror (a small loop-mounted ext4) is filled with a file; once a sync
#           has failed there, it is freed while the writer still runs
#
# (and `none` first: the writer alone, as a yardstick). Origin: filelistd --http and an
# rsync daemon. Tier 1: quick-mirror follow, `filelistd relay` --http and an rsync
# daemon. Tier 2: quick-mirror follow from tier 1. After each fault, once the writer
# has stopped and the fault is over, it waits until the origin's list is current and
# tiers 1 and 2 hold exactly the origin's listed entries (type, size, mode, time,
# link target; hard links as links; the lists byte for byte), and prints how long that
# took. It also checks, after each fault, that each tier's /events stream (recorded
# with curl -N, reconnecting with Last-Event-ID) announced every generation once, in
# order, with a `reset` whenever the server's run changed; that the origin, the relay
# and tier 2 name the same list version; and that no quick-mirror refused a list or
# tripped the deletion guard.
#
# Usage: Scripts/three-hosts.sh [--bin DIR] [--faults none,link,origin,tier1,disk]
#            [--rate RATE] [--link-down SECONDS] [--ops N] [--interval SECONDS]
#            [--timeout SECONDS] [--keep]
#   --bin       the executables (default: $QUICKMIRROR_BIN, else .build/debug, else
#               .build/release). The figures in docs/BENCHMARKS.md are of release builds:
#               for p in filelistd quick-mirror create-filelist; do
#                   swift build -c release --static-swift-stdlib --product $p; done
#               (as Scripts/install.sh builds them), then --bin .build/release
#   --rate      each link's tbf rate (default 16mbit)
#   --link-down how long the link stays down (default 20: longer than the followers'
#               RSYNCTIMEOUT of 15 s, so the run under it fails and the next takes it up; a
#               shorter outage TCP rides out, and nothing fails)
#   --ops       writer operations per fault (default 300)
#   --interval  the followers' --interval (default 10)
#   --timeout   seconds a tier may take to converge after a fault (default 180)
#   --keep      keep the work directory (trees and logs) after a successful run
#
# Needs root, ip (netns, veth), tc with tbf, a loop device and mkfs.ext4, rsync, curl
# and python3; the origin's tree is changed by ../shared/tools/treechurn.py when it is
# there, else by a small shell writer. Addresses are from the documentation ranges
# (192.0.2.0/24, 198.51.100.0/24), only inside the namespaces made here; nothing else is
# contacted. Everything is torn down on exit (the logs are kept on a failure). Says
# plainly when the machine cannot run it and exits 0; with CI=true that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

bin=${QUICKMIRROR_BIN:-}
faults=none,link,origin,tier1,disk
rate=16mbit
link_down=20
ops=300
interval=10
timeout=180
keep=0
while (($#)); do
    case $1 in
        --bin) bin=$2; shift 2 ;;
        --faults) faults=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --link-down) link_down=$2; shift 2 ;;
        --ops) ops=$2; shift 2 ;;
        --interval) interval=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "three-hosts: unknown option $1 (--help lists them)" >&2; exit 64 ;;
    esac
done
IFS=', ' read -r -a fault_list <<< "$faults"
for fault in "${fault_list[@]}"; do
    case $fault in none | link | origin | tier1 | disk) ;; *) echo "three-hosts: unknown fault '$fault'" >&2; exit 64 ;; esac
done

say() { echo "three-hosts: $*"; }
cannot() {
    if [[ ${CI:-} == true ]]; then
        echo "three-hosts: FAILED: this machine cannot run the three-host test: $*" >&2
        exit 1
    fi
    echo "three-hosts: SKIPPED: this machine cannot run the three-host test: $*"
    exit 0
}
[[ $(id -u) -eq 0 ]] || cannot "it needs root (network namespaces, tc, a loop mount)"
for tool in ip tc rsync curl python3 losetup mkfs.ext4 setsid; do
    command -v $tool > /dev/null || cannot "$tool is not installed (Scripts/packages.txt names its package)"
done

if [[ -z $bin ]]; then
    bin=.build/debug
    [[ -x $bin/filelistd ]] || bin=.build/release
fi
for tool in filelistd quick-mirror create-filelist; do
    [[ -x $bin/$tool ]] || { echo "three-hosts: no $tool in $bin (swift build first, or --bin DIR)" >&2; exit 1; }
done
bin=$(cd "$bin" && pwd)
churn=$repo/../shared/tools/treechurn.py
[[ -f $churn ]] || churn=

# A short path: control sockets live below it (at most 107 bytes).
work=$(mktemp -d /tmp/qm3h.XXXXXX)
chmod 755 "$work" # the rsync daemons read as nobody
run=$work/run
t0=$work/t0 t1=$work/t1 t2=$work/t2
mkdir -p "$run" "$t0/fedora" "$t1" "$t2" "$work/outside"
ns0=qm3h-$$-0 ns1=qm3h-$$-1 ns2=qm3h-$$-2
a0=192.0.2.1 a1=192.0.2.2     # the origin - tier 1 link
b1=198.51.100.1 b2=198.51.100.2 # the tier 1 - tier 2 link
v01=qm$$-01 v10=qm$$-10 v12=qm$$-12 v21=qm$$-21

declare -A pids=()
failed=1
cleanup() {
    local pid deadline
    set +e
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2> /dev/null; done
    deadline=$((SECONDS + 10))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2> /dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL -- "-$pid" 2> /dev/null
        wait "$pid" 2> /dev/null
    done
    for ns in "$ns0" "$ns1" "$ns2"; do ip netns del "$ns" 2> /dev/null; done
    if mountpoint -q "$t1"; then umount "$t1" 2> /dev/null || umount -l "$t1"; fi
    ((failed || keep)) || rm -f "$work/t1.img"
    if ((failed || keep)); then
        echo "three-hosts: logs and trees in $work, tier 1's in t1.img (the namespaces, processes and mount are gone)"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The network: three namespaces, two veth pairs, tbf on every end. ---------------
for ns in "$ns0" "$ns1" "$ns2"; do
    ip netns add "$ns" 2> "$run/ip.err" || cannot "ip netns add failed: $(cat "$run/ip.err")"
    ip -n "$ns" link set lo up
done
link() { # link NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B
    ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" 2> "$run/ip.err" ||
        cannot "cannot make a veth pair: $(cat "$run/ip.err")"
    ip -n "$1" addr add "$3/24" dev "$2"
    ip -n "$4" addr add "$6/24" dev "$5"
    local ns dev
    for ns_dev in "$1 $2" "$4 $5"; do
        read -r ns dev <<< "$ns_dev"
        ip -n "$ns" link set "$dev" up
        tc -n "$ns" qdisc add dev "$dev" root tbf rate "$rate" burst 64kb latency 50ms 2> "$run/tc.err" ||
            cannot "tc qdisc tbf failed: $(cat "$run/tc.err")"
    done
}
link "$ns0" "$v01" "$a0" "$ns1" "$v10" "$a1"
link "$ns1" "$v12" "$b1" "$ns2" "$v21" "$b2"
say "network: origin $a0 <-> $a1 tier 1 $b1 <-> $b2 tier 2 (namespaces $ns0 $ns1 $ns2, tbf $rate each way)"

# --- Tier 1's disk: a small ext4 of its own, so that it can be filled. ---------------
truncate -s 160M "$work/t1.img"
mkfs.ext4 -q -F -m 0 "$work/t1.img" || cannot "mkfs.ext4 of an image failed"
mount -o loop "$work/t1.img" "$t1" 2> "$run/mount.err" || cannot "mount -o loop failed: $(cat "$run/mount.err")"

# --- Processes: each in its namespace and its own process group. ---------------------
# start ROLE NS COMMAND...: output appended to $run/ROLE.log.
start() {
    local role=$1 ns=$2
    shift 2
    ip netns exec "$ns" setsid "$@" < /dev/null >> "$run/$role.log" 2>&1 &
    pids[$role]=$!
}
# stop SIGNAL ROLE...: signals each role's process group at once, and waits for them.
stop() {
    local signal=$1 role pid deadline=$((SECONDS + 30))
    shift
    for role in "$@"; do
        [[ $signal == KILL ]] && disown "${pids[$role]}" 2> /dev/null # (no "Killed" job line)
        kill "-$signal" -- "-${pids[$role]}" 2> /dev/null || true
    done
    for role in "$@"; do
        pid=${pids[$role]}
        while kill -0 "$pid" 2> /dev/null; do
            ((SECONDS < deadline)) || { echo "three-hosts: $role did not stop within 30 s of SIG$signal" >&2; exit 1; }
            sleep 0.05
        done
        wait "$pid" 2> /dev/null || true
        kill -KILL -- "-$pid" 2> /dev/null || true # what it started, if it outlived it
        unset "pids[$role]"
    done
}
# wait_for SECONDS COMMAND...: until COMMAND succeeds; 1 when time runs out.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
count() { grep -c "$1" "$2" 2> /dev/null || true; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

rsync_daemon() { # rsync_daemon ROLE NS ADDRESS DIR
    cat > "$run/$1.conf" << EOF
use chroot = no
read only = yes
exclude = .~tmp~/
[master]
    path = $4
EOF
    start "$1" "$2" rsync --daemon --no-detach --address="$3" --port=873 --config="$run/$1.conf" --log-file="$run/$1.xfer.log"
    wait_for 10 ip netns exec "$2" bash -c "exec 3<>/dev/tcp/$3/873" 2> /dev/null ||
        { echo "three-hosts: $1 (rsync --daemon on $3) did not start; its log: $run/$1.log" >&2; exit 1; }
}

origin_filelistd() {
    start origin-filelistd "$ns0" "$bin/filelistd" --config "$run/origin-filelistd.conf" --runtime-directory "$run/origin" \
        --http "$a0:8080" --name origin
    local before=$1
    wait_for 60 eval '(($(count "lists announced" "$run/origin-filelistd.log") > before))' ||
        { tail -20 "$run/origin-filelistd.log" >&2; echo "three-hosts: the origin's filelistd did not start (above)" >&2; exit 1; }
}

relay() {
    local before
    before=$(count "relay ready" "$run/tier1-relay.log")
    start tier1-relay "$ns1" "$bin/filelistd" relay --dir "$t1" --list fedora/fullfiletimelist-fedora \
        --http "$b1:8080" --name tier1 --runtime-directory "$run/tier1-relay"
    wait_for 30 eval '(($(count "relay ready" "$run/tier1-relay.log") > before))' ||
        { tail -20 "$run/tier1-relay.log" >&2; echo "three-hosts: tier 1's relay did not start (above)" >&2; exit 1; }
}

follow() { # follow TIER NS DESTD REMOTE_ADDRESS [RELAY_RUNTIME]
    cat > "$run/$1.conf" << EOF
DESTD=$3
TIMEFILE=$run/$1.timefile
REMOTE=rsync://$4
MASTERMODULE=master
MODULES=(fedora-enchilada)
LISTSOURCE=http://$4:8080
RSYNCTIMEOUT=15
${QM3H_EXTRA_CONF:-}
${5:+NOTIFYFILELISTD=$5}
EOF
    start "$1-quick-mirror" "$2" "$bin/quick-mirror" follow -c "$run/$1.conf" --interval "$interval" -d 1
}

# record NAME NS URL: the /events stream, appended to $run/NAME.events; reconnects with
# the id of the last complete event, as a client does.
cat > "$run/record.sh" << 'EOF'
#!/usr/bin/env bash
url=$1 file=$2
while :; do
    last=$(awk '/^id: /{id=substr($0,5)} /^data: /{d=1} /^$/{if (d && id != "") last=id; id=""; d=0} END{print last}' "$file")
    printf '\n:connect %s\n\n' "${last:-none}" >> "$file"
    curl -sN --no-buffer ${last:+-H "Last-Event-ID: $last"} "$url" >> "$file" 2> /dev/null || true
    sleep 0.1
done
EOF
record() {
    : > "$run/$1.events"
    start "$1-recorder" "$2" bash "$run/record.sh" "$3" "$run/$1.events"
}

# --- Checks, in Python: the trees entry by entry, and the change streams. -------------
cat > "$run/compare.py" << 'EOF'
"""compare.py TOP0 TOPN MODULE: whether TOPN/MODULE holds exactly the entries TOP0/MODULE's
list names (and the lists): type, size, mode, mtime (files and links), link target.
Directory times are left out (a deletion touches its directory after rsync set the
upstream time), as demo-tiers.sh does. Hard links of the origin that are copies here
are printed as `links:` lines, and do not count: a list does not say which names share
an inode, so when one name of a linked file moves (its directory renamed) and the
other does not change, the mirror fetches the moved one alone, as a copy."""
import os, stat, sys

top0, topn, module = (os.fsencode(a) for a in sys.argv[1:4])
lists = [b"fullfiletimelist-" + module, b"fullfilelist", b"imagelist-" + module]
with open(os.path.join(top0, module, lists[0]), "rb") as f:
    text = f.read()
files = text.split(b"\n[Files]\n", 1)[1].split(b"\n\n", 1)[0]
wanted = {line.split(b"\t", 3)[3] for line in files.split(b"\n") if line}
wanted.update(lists)

def snapshot(root, only=None):
    entries, inodes = {}, {}
    for d, dirs, names in os.walk(root):
        for name in dirs + names:
            full = os.path.join(d, name)
            rel = os.path.relpath(full, root)
            if only is not None and rel not in only:
                if name in dirs:
                    dirs.remove(name)
                continue
            try:
                st = os.lstat(full)
            except FileNotFoundError:  # removed while this walked (a sync running): absent
                continue
            if stat.S_ISDIR(st.st_mode):
                entries[rel] = ("d", oct(st.st_mode & 0o7777))
            elif stat.S_ISLNK(st.st_mode):
                entries[rel] = ("l", os.readlink(full), st.st_mtime_ns)
            else:
                entries[rel] = ("f", st.st_size, oct(st.st_mode & 0o7777), st.st_mtime_ns)
                if st.st_nlink > 1:
                    inodes[rel] = (st.st_dev, st.st_ino)
    return entries, inodes

expected, links0 = snapshot(os.path.join(top0, module), wanted)
actual, linksn = snapshot(os.path.join(topn, module))
problems = []
for path in sorted(set(expected) | set(actual)):
    a, b = expected.get(path), actual.get(path)
    if a != b:
        problems.append("%s: origin %s, here %s" % (os.fsdecode(path), a or "absent", b or "absent"))
groups = {}
for path, inode in links0.items():
    groups.setdefault(inode, []).append(path)
for names in groups.values():
    seen = {linksn.get(p) for p in names}
    if len(names) > 1 and (len(seen) != 1 or None in seen):
        print("links: copies, not links: " + " ".join(os.fsdecode(p) for p in sorted(names)))
for p in problems[:12]:
    print(p)
if len(problems) > 12:
    print("... %d differences in all" % len(problems))
sys.exit(1 if problems else 0)
EOF

cat > "$run/check-events.py" << 'EOF'
"""check-events.py FILE: every announcement of a recorded /events stream once, in order:
within a run ids go up by one; a new run (a restart) starts with `reset`; each event's
generation is its id's and its own hop's."""
import json, sys

events, event = [], {}
for line in open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n"):
    if line == "":
        if "data" in event:
            events.append(event)
        event = {}
    elif line.startswith(":"):
        continue
    else:
        field, _, value = line.partition(":")
        event[field] = value[1:] if value.startswith(" ") else value
problems, resets, runs = [], 0, []
last = None
for e in events:
    name, ident = e.get("event", "message"), e.get("id", "")
    run, _, number = ident.rpartition("-")
    data = json.loads(e["data"])
    generation = int(number)
    if data.get("generation") != generation or data["hops"][-1]["generation"] != generation:
        problems.append("event %s carries generation %s" % (ident, data.get("generation")))
    if name == "reset":
        resets += 1
        if last and last[0] == run and generation <= last[1]:
            problems.append("reset to %s after %s-%d in the same run" % (ident, last[0], last[1]))
    elif name != "lists":
        problems.append("unknown event %s (%s)" % (name, ident))
    elif last is None:
        pass
    elif run != last[0]:
        problems.append("%s follows %s-%d without a reset (a new run)" % (ident, last[0], last[1]))
    elif generation <= last[1]:
        problems.append("%s announced again (after %s-%d)" % (ident, last[0], last[1]))
    elif generation != last[1] + 1:
        problems.append("%s follows %s-%d: generations %d-%d skipped without a reset"
                        % (ident, last[0], last[1], last[1] + 1, generation - 1))
    if not runs or runs[-1] != run:
        runs.append(run)
    last = (run, generation)
print("%d events, %d resets, %d runs, last %s" % (len(events), resets, len(runs), events[-1]["id"] if events else "none"))
for p in problems:
    print("PROBLEM: " + p)
sys.exit(1 if problems else 0)
EOF

# --- The origin's tree: one module, "fedora". -------------------------------------------
# Shallow on purpose: the writer renames and parks whole directories below the first
# levels, and in a deep Fedora-shaped tree one such operation (a release's Everything
# moved) is a legitimate mass deletion the guard refuses. Here no directory below the
# top two levels holds more than a few dozen entries, and none more than ~125: the
# deletions of a whole fault stay far below the guard's 1,000.
for letter in a b c d e f g h i j k l m n o p; do
    for n in 1 2 3 4; do
        dir=$t0/fedora/pool/$letter/$letter$n
        mkdir -p "$dir"
        for i in $(seq 1 30); do
            printf 'package %s%s-%s, built from a writer-free tree\n' "$letter" "$n" "$i" > "$dir/$letter$n-$i.fc41.x86_64.rpm"
        done
    done
done
for release in 39 40 41; do
    os=$t0/fedora/releases/$release/Everything/x86_64/os
    mkdir -p "$os/repodata" "$os/Packages"
    printf '<repomd revision="%s"/>\n' "$release" > "$os/repodata/repomd.xml"
    # Packages shared with the pool: hard links.
    for n in 1 2 3 4; do ln "$t0/fedora/pool/b/b$n/b$n-$((release - 30)).fc41.x86_64.rpm" "$os/Packages/"; done
done
ln -s 41 "$t0/fedora/releases/latest"
mkdir -p "$t0/fedora/isos"
echo "the first iso" > "$t0/fedora/isos/small.iso"
say "origin tree: $(find "$t0/fedora" | wc -l) entries in $t0/fedora"

cat > "$run/origin-filelistd.conf" << EOF
top = $t0
modules = fedora
checksum = yes
settle = 1
max-delay = 3
EOF

# --- Start the three hosts. ----------------------------------------------------------
origin_filelistd 0
rsync_daemon origin-rsyncd "$ns0" "$a0" "$t0"
record origin "$ns0" "http://$a0:8080/events"
relay
rsync_daemon tier1-rsyncd "$ns1" "$b1" "$t1"
record tier1 "$ns1" "http://$b1:8080/events"
follow tier1 "$ns1" "$t1" "$a0" "$run/tier1-relay"
follow tier2 "$ns2" "$t2" "$b1"
say "origin: filelistd and rsync on $a0; tier 1: quick-mirror follow, relay and rsync on $b1; tier 2: quick-mirror follow"

# --- The writer. ----------------------------------------------------------------------
shell_writer() { # shell_writer SEED OPS: creates, appends, deletes, renames, links, mkdirs
    RANDOM=$1
    local i letter dir file letters=(a b c d e f g h i j k l m n o p)
    for ((i = 0; i < $2; i++)); do
        letter=${letters[RANDOM % 16]}
        dir=$t0/fedora/pool/$letter/$letter$((1 + RANDOM % 4))
        [[ -d $dir ]] || mkdir -p "$dir"
        file=$dir/$(ls "$dir" | sed -n "$((1 + RANDOM % 20))p")
        case $((RANDOM % 7)) in
            0 | 1) head -c $((RANDOM % 3000)) /dev/urandom > "$dir/w$1-$i.rpm" ;;
            2) [[ -f $file ]] && echo "appended $i" >> "$file" ;;
            3) [[ -f $file ]] && rm -f "$file" ;;
            4) [[ -f $file ]] && mv "$file" "$dir/renamed-$1-$i.rpm" ;;
            5) [[ -f $file ]] && ln "$file" "$dir/link-$1-$i.rpm" ;;
            6) mkdir -p "$dir/d$1-$i" && echo "$i" > "$dir/d$1-$i/inside" ;;
        esac || true
        sleep 0.05
    done
}
# writer SEED: the origin's tree keeps changing, in the background ($writer is its pid).
writer() {
    if [[ -n $churn ]]; then
        # Left out: chmods (restricted entries, mirrored only with PREBITFLIP) and .nfs files.
        python3 "$churn" --dir "$t0/fedora" --outside "$work/outside" --ops "$ops" --seed "$1" --pace 0.05 \
            --skip fullfiletimelist-fedora --skip fullfilelist --skip imagelist-fedora --skip isos \
            --without chmod_dir --without chmod_file --without retarget --without nfs >> "$run/writer.log" 2>&1 &
    else
        shell_writer "$1" "$ops" >> "$run/writer.log" 2>&1 &
    fi
    writer=$!
    writer_started=$EPOCHREALTIME
}
wait_writer() {
    wait "$writer" || { tail "$run/writer.log" >&2; echo "three-hosts: the writer failed (above)" >&2; exit 1; }
    writer_ended=$EPOCHREALTIME
}
say "writer: $([[ -n $churn ]] && echo "treechurn.py ($churn)" || echo "a shell writer (no ../shared/tools/treechurn.py)"), $ops operations per fault"

# --- Convergence. ----------------------------------------------------------------------
origin_current() {
    "$bin/create-filelist" -d "$t0/fedora" -c -S fullfiletimelist-fedora -S fullfilelist -S imagelist-fedora \
        2> /dev/null | cmp -s - "$t0/fedora/fullfiletimelist-fedora"
}
identical() { python3 "$run/compare.py" "$t0" "$1" fedora > /dev/null; }
converged() { origin_current && identical "$t2" && identical "$t1"; }
etag_of() { ip netns exec "$1" curl -s "http://$2:8080/announcement" | python3 -c 'import json, sys; print(json.load(sys.stdin)["lists"]["fedora/fullfiletimelist-fedora"])'; }

declare -A figures=() log_from=()
# mark_logs: where each quick-mirror log stands when a fault begins; since TIER PATTERN:
# how many of its lines since then match.
mark_logs() { for tier in tier1 tier2; do log_from[$tier]=$(wc -l < "$run/$tier-quick-mirror.log"); done; }
since() { tail -n "+$((log_from[$1] + 1))" "$run/$1-quick-mirror.log" | grep -c -- "$2" || true; }
# converge NAME SINCE: waits until tiers 1 and 2 are identical to the origin; checks the
# streams, the list versions and the logs; records the time since SINCE.
converge() {
    local name=$1 since=$2 ended tier1_at= deadline=$((SECONDS + timeout))
    # Each tier's time: the first moment it is identical to a current origin (tier 1's
    # is taken when it is seen so, whether tier 2 is yet or not).
    until origin_current && { [[ -n $tier1_at ]] || { identical "$t1" && tier1_at=$EPOCHREALTIME; }; } &&
        identical "$t2" && identical "$t1"; do
        ((SECONDS < deadline)) || break
        sleep 0.1
    done
    if ! converged; then
        echo "three-hosts: FAILED: $name: not converged $timeout s after the fault" >&2
        origin_current || echo "three-hosts: the origin's list is not what create-filelist writes" >&2
        for tier in "$t1" "$t2"; do
            echo "three-hosts: $tier against the origin:" >&2
            python3 "$run/compare.py" "$t0" "$tier" fedora >&2 || true
        done
        tail -n 5 "$run/tier1-quick-mirror.log" "$run/tier2-quick-mirror.log" >&2
        exit 1
    fi
    ended=$EPOCHREALTIME
    figures[$name]="$(elapsed "$since" "$tier1_at") $(elapsed "$since" "$ended")"
    local e0 e1 e2
    e0=$(etag_of "$ns0" "$a0") e1=$(etag_of "$ns1" "$b1")
    e2=\"$(python3 "$repo/Scripts/list-digest.py" "$t2/fedora/fullfiletimelist-fedora" | awk '{print $1}')\"
    if [[ $e0 != "$e1" || $e1 != "$e2" ]]; then
        echo "three-hosts: FAILED: $name: list versions differ: origin $e0, relay $e1, tier 2's list $e2" >&2
        exit 1
    fi
    local stream
    for stream in origin tier1; do
        if ! python3 "$run/check-events.py" "$run/$stream.events" > "$run/$stream.events.check"; then
            cat "$run/$stream.events.check" >&2
            echo "three-hosts: FAILED: $name: $stream's /events stream (above; recorded in $run/$stream.events)" >&2
            exit 1
        fi
    done
    local tier
    for tier in tier1 tier2; do
        if grep -E 'refusing to delete|refusing the list' "$run/$tier-quick-mirror.log" >&2; then
            echo "three-hosts: FAILED: $name: $tier's quick-mirror refused a run (above)" >&2
            exit 1
        fi
    done
    local copies
    copies=$(python3 "$run/compare.py" "$t0" "$t2" fedora | grep -c '^links:' || true)
    say "$name: identical to the origin after the fault ended and the writer stopped: tier 1 in ${figures[$name]% *} s, tier 2 in ${figures[$name]#* } s"
    say "  syncs (tier 1, tier 2): $(since tier1 '^synced'), $(since tier2 '^synced'); failed: $(since tier1 '^quick-mirror: error:'), $(since tier2 '^quick-mirror: error:');" \
        "rsync retries: $(since tier1 'attempt [0-9]* of'), $(since tier2 'attempt [0-9]* of')"
    say "  /events: origin $(head -1 "$run/origin.events.check"); tier 1 $(head -1 "$run/tier1.events.check")"
    ((copies == 0)) || say "  $copies hard-linked file(s) of the origin are copies at tier 2 (one name moved, the other unchanged)"
}

wait_for 120 converged || {
    for tier in "$t1" "$t2"; do python3 "$run/compare.py" "$t0" "$tier" fedora >&2 || true; done
    echo "three-hosts: FAILED: the first sync did not make tiers 1 and 2 identical to the origin within 120 s (logs in $run)" >&2
    exit 1
}
say "first sync: tiers 1 and 2 identical to the origin"

seed=0
for fault in "${fault_list[@]}"; do
    seed=$((seed + 1))
    sleep 1 # past the second of the last sync: every time the writer sets is new
    mark_logs
    case $fault in
        none)
            writer $seed
            wait_writer
            converge "none: the writer alone" "$writer_ended"
            ;;
        link)
            # A file that takes a few seconds to cross the link, then the link goes down under it.
            head -c 12M /dev/urandom > "$t0/fedora/isos/big-$seed.iso"
            writer $seed
            crossing() {
                local size
                size=$(find "$t1/fedora/isos" -name "*big-$seed.iso*" ! -path "$t1/fedora/isos/big-$seed.iso" -printf '%s\n' 2> /dev/null | sort -n | tail -1)
                ((${size:-0} > 1000000))
            }
            wait_for 120 crossing || { echo "three-hosts: FAILED: link: big-$seed.iso never started crossing to tier 1" >&2; exit 1; }
            ip -n "$ns0" link set "$v01" down
            say "link: down while big-$seed.iso crosses to tier 1 (${link_down} s)"
            sleep "$link_down"
            ip -n "$ns0" link set "$v01" up
            cleared=$EPOCHREALTIME
            wait_writer
            since=$(awk -v a="$cleared" -v b="$writer_ended" 'BEGIN { print (a > b ? a : b) }')
            converge "link: tier 0 - tier 1 down ${link_down} s mid-transfer" "$since"
            ;;
        origin)
            writer $seed
            sleep 4
            stop KILL origin-filelistd
            say "origin: filelistd SIGKILLed; started again in 2 s"
            sleep 2
            origin_filelistd "$(count 'lists announced' "$run/origin-filelistd.log")"
            cleared=$EPOCHREALTIME
            wait_writer
            since=$(awk -v a="$cleared" -v b="$writer_ended" 'BEGIN { print (a > b ? a : b) }')
            converge "origin: filelistd SIGKILLed and started" "$since"
            ;;
        tier1)
            writer $seed
            sleep 4
            stop TERM tier1-quick-mirror tier1-relay
            say "tier1: relay and quick-mirror stopped (SIGTERM to each process group); started again in 2 s"
            sleep 2
            relay
            follow tier1 "$ns1" "$t1" "$a0" "$run/tier1-relay"
            cleared=$EPOCHREALTIME
            wait_writer
            since=$(awk -v a="$cleared" -v b="$writer_ended" 'BEGIN { print (a > b ? a : b) }')
            converge "tier1: relay and quick-mirror restarted" "$since"
            ;;
        disk)
            dd if=/dev/zero of="$t1/fill" bs=1M status=none 2> /dev/null || true
            sync
            say "disk: tier 1's file system full ($(df -h --output=avail "$t1" | tail -1 | tr -d ' ') left)"
            writer $seed
            # Freed while the origin still changes: a follower whose syncs failed backs off
            # (its interval doubled per failure, up to 64 times) until the next announcement,
            # so on a quiet origin the last failure's pause, not the free space, would be timed.
            wait_for 60 eval '(($(since tier1 "^quick-mirror: error:") > 0))' ||
                { echo "three-hosts: FAILED: disk: tier 1 never failed a sync on a full disk" >&2; exit 1; }
            sleep 2
            kill -0 "$writer" 2> /dev/null ||
                say "disk: the writer ended before tier 1 failed a sync; the time below includes its backoff"
            rm "$t1/fill"
            cleared=$EPOCHREALTIME
            say "disk: freed ($(since tier1 '^quick-mirror: error:') failed syncs at tier 1 meanwhile)"
            wait_writer
            since=$(awk -v a="$cleared" -v b="$writer_ended" 'BEGIN { print (a > b ? a : b) }')
            converge "disk: tier 1 full, then freed" "$since"
            ;;
    esac
done

failed=0
say "every fault converged; generations announced once each, in order; no list refused, no guard tripped"
say "converged, seconds after the fault ended and the writer stopped (tier 1, tier 2):"
for fault in "${fault_list[@]}"; do
    for name in "${!figures[@]}"; do
        # An if, not `&&`: a last name that does not match would be the script's exit status.
        if [[ $name == "$fault:"* ]]; then printf 'three-hosts:   %-50s %6s %6s\n' "$name" ${figures[$name]}; fi
    done
done
