#!/usr/bin/env bash
# Checks the Debian package on this machine (root, Debian 12): builds it from overlay-examples/target/overlay.jar,
# runs lintian (errors and warnings fail), installs it with `apt install ./overlay_*.deb`, runs systemd-analyze verify
# on the installed unit, runs `overlay --version`, `overlay --help` and `overlay health` from /usr/bin, checks the CDS
# archive postinst makes (a JVM with -Xshare:on maps it; a Java update's trigger remakes it), starts the agent from
# /usr/bin with that archive against an etcd of its own in a network namespace until it is ready, then purges the
# package and fails if any file or directory it installed, or the archive, is left. Leaves the machine without the
# package either way. Needs root, etcd and etcdctl, socat, ip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=300 -y -qq "$@"; }
fail() { echo "test-deb: FAILED: $*" >&2; exit 1; }

for tool in etcd etcdctl socat ip lintian; do
  command -v "$tool" >/dev/null || fail "$tool missing (apt install etcd-server etcd-client socat iproute2 lintian)"
done
if dpkg -s overlay >/dev/null 2>&1; then
  fail "a package named overlay is already installed; remove it first (apt purge overlay)"
fi
deb=$("$here/build-deb.sh" | tail -1)
echo "test-deb: built $deb"

# lintian runs as root here (CI); --fail-on makes warnings fail too. Info tags left (lintian -I shows them):
# arch-dep-package-has-big-usr-share: the jar goes to /usr/share/overlay as the layout asks, and the package is
# amd64 only because the jar carries Netty's x86-64 epoll library; package-supports-alternative-init-but-no-init.d-
# script: systemd only (Type=notify readiness is the point).
lintian --fail-on error,warning --allow-root "$deb" || fail "lintian reported errors or warnings"

cleanup() {
  if dpkg -s overlay >/dev/null 2>&1; then apt_get purge overlay >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# Directories that exist before installing are not ours to remove.
mapfile -t paths < <(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's#^\./#/#; s#/$##' | grep -v '^\.\?$')
preexisting=()
for p in "${paths[@]}"; do [ -e "$p" ] && preexisting+=("$p"); done

apt_get install "$deb" >/dev/null || fail "apt install $deb"
dpkg -s overlay | grep -q '^Status: install ok installed' || fail "overlay not installed"
mapfile -t installed < <(dpkg -L overlay)
for f in /usr/share/overlay/overlay.jar /usr/share/overlay/overlay.classlist /usr/bin/overlay /lib/systemd/system/overlay.service /etc/default/overlay \
  /usr/share/doc/overlay/copyright /usr/share/doc/overlay/changelog.gz /usr/share/man/man1/overlay.1.gz; do
  printf '%s\n' "${installed[@]}" | grep -qx "$f" || fail "dpkg -L overlay does not list $f"
  [ -f "$f" ] || fail "$f not installed"
done
grep -qx /etc/default/overlay <(dpkg-query -W -f='${Conffiles}\n' overlay | awk '{print $1}') \
  || fail "/etc/default/overlay is not a conffile"

man_opt=()
command -v man >/dev/null || man_opt=(--man=no)
systemd-analyze verify "${man_opt[@]}" /lib/systemd/system/overlay.service || fail "systemd-analyze verify"

version=$(/usr/bin/overlay --version)
[[ "$version" =~ ^overlay\ [0-9] ]] || fail "overlay --version printed '$version'"
/usr/bin/overlay --help | grep -q -- '--etcd-endpoints' || fail "overlay --help lacks --etcd-endpoints"
set +e
/usr/bin/overlay health --healthz-port 1 >/dev/null
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "overlay health with nothing listening exited $rc, not 1"
echo "test-deb: installed and ran: $version"

# The class data sharing archive: made by postinst, mapped by /usr/bin/overlay (-Xshare:on makes a JVM that cannot
# map it exit 1 instead of starting without it), remade by the trigger a Java update fires.
jsa=/var/cache/overlay/overlay.jsa
[ -s "$jsa" ] || fail "postinst made no $jsa: $(cat /var/cache/overlay/overlay.jsa.log 2>/dev/null)"
OVERLAY_JAVA_OPTS=-Xshare:on /usr/bin/overlay --version >/dev/null \
  || fail "/usr/bin/overlay cannot map $jsa (OVERLAY_JAVA_OPTS=-Xshare:on)"
rm -f "$jsa"
dpkg-trigger --no-await /usr/lib/jvm
for try in $(seq 60); do  # dpkg, unlike apt-get, does not wait for a lock another installer holds
  dpkg --triggers-only overlay && break
  [ "$try" -lt 60 ] || fail "dpkg --triggers-only overlay"
  sleep 5
done
[ -s "$jsa" ] || fail "the /usr/lib/jvm trigger did not remake $jsa"
OVERLAY_JAVA_OPTS=-Xshare:on /usr/bin/overlay --version >/dev/null || fail "/usr/bin/overlay cannot map the remade $jsa"
echo "test-deb: $jsa made at installation and by the /usr/lib/jvm trigger ($(du -m "$jsa" | cut -f1) MiB), mapped"

# The JVM options /usr/bin/overlay passes, seen through a stand-in java on PATH that prints them: the defaults, then
# the archive, then OVERLAY_JAVA_OPTS (last, so they win); the trim option only for a Java that has it (the release
# file's JAVA_VERSION: 17.0.9+, 21.0.1+, 22+), since an older JVM refuses to start with an unknown option; the heap's
# free ratios, without the pair when OVERLAY_JAVA_OPTS sets a minimum and without the maximum when it sets only that (a
# JVM refuses a minimum above the maximum); an archive path with blanks stays one argument.
fake=$(mktemp -d)
mkdir "$fake/bin"
printf '#!/bin/sh\necho "$@"\n' >"$fake/bin/java"
chmod 755 "$fake/bin/java"
for v in 17.0.8:no 17.0.9:yes 17.0.15:yes 20.0.2:no 21:no 21.0.1:yes 21.0.4:yes 25:yes; do
  for o in -Xmx256m -XX:MinHeapFreeRatio=50 -XX:MaxHeapFreeRatio=30; do
    echo "JAVA_VERSION=\"${v%:*}\"" >"$fake/release"
    args=$(PATH="$fake/bin:$PATH" OVERLAY_JAVA_OPTS=$o /usr/bin/overlay --version)
    want="-XX:+UseSerialGC -Xms8m -Xmx128m"
    case $o in
      -Xmx256m) want="$want -XX:MinHeapFreeRatio=20 -XX:MaxHeapFreeRatio=40" ;;
      -XX:MaxHeapFreeRatio=*) want="$want -XX:MinHeapFreeRatio=20" ;;
    esac
    [ "${v#*:}" = yes ] && want="$want -XX:+UnlockExperimentalVMOptions -XX:TrimNativeHeapInterval=5000"
    want="$want -XX:-UsePerfData -XX:+ExitOnOutOfMemoryError -XX:SharedArchiveFile=$jsa -Xshare:auto"
    want="$want -Dio.netty.native.workdir=/var/cache/overlay/native -Djna.tmpdir=/var/cache/overlay/native $o"
    [ "$args" = "$want -jar /usr/share/overlay/overlay.jar --version" ] \
      || { rm -rf "$fake"; fail "for Java ${v%:*} and OVERLAY_JAVA_OPTS=$o /usr/bin/overlay ran java $args"; }
  done
done
touch "$fake/an archive.jsa"
printf '#!/bin/sh\nprintf "[%%s]" "$@"\n' >"$fake/bin/java"
args=$(PATH="$fake/bin:$PATH" OVERLAY_CDS_ARCHIVE="$fake/an archive.jsa" /usr/bin/overlay --version)
case $args in
  *"[-XX:SharedArchiveFile=$fake/an archive.jsa][-Xshare:auto]"*) ;;
  *) rm -rf "$fake"; fail "an archive path with a blank was split: java $args" ;;
esac
rm -rf "$fake"
echo "test-deb: /usr/bin/overlay passes its defaults, the archive, then OVERLAY_JAVA_OPTS; the trim option by version, the free ratios unless overridden"

# The agent from /usr/bin as systemd starts it: the wrapper must exec the JVM (NotifyAccess=main accepts only the
# main process) and the JVM must send to NOTIFY_SOCKET. In a namespace of its own where no etcd answers, the agent
# waits for the network config: it reports a not-ready STATUS= and ends cleanly on SIGTERM.
ns=ovdeb$$
work=$(mktemp -d)
ip netns add "$ns"
trap 'kill "${agent:-}" "${listener:-}" 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; cleanup' EXIT
ip -n "$ns" link set lo up
socat -u "UNIX-RECVFROM:$work/notify" "OPEN:$work/datagram,creat" &
listener=$!
for _ in $(seq 50); do [ -S "$work/notify" ] && break; sleep 0.1; done
ip netns exec "$ns" env NOTIFY_SOCKET="$work/notify" /usr/bin/overlay --etcd-endpoints http://127.0.0.1:1 \
  --subnet-file "$work/subnet.env" >"$work/agent.log" 2>&1 &
agent=$!
for _ in $(seq 300); do [ -s "$work/datagram" ] && break; sleep 0.1; done
exe=$(readlink "/proc/$agent/exe" || true)
[[ "$exe" == */java ]] || fail "the process started as /usr/bin/overlay runs $exe, not java: the wrapper must exec"
grep -q '^STATUS=not-ready ' "$work/datagram" \
  || fail "no STATUS=not-ready datagram from /usr/bin/overlay within 30 s: $(cat "$work/datagram" "$work/agent.log")"
kill -TERM "$agent"
set +e
wait "$agent"
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "/usr/bin/overlay exited $rc after SIGTERM, not 0: $(cat "$work/agent.log")"
echo "test-deb: /usr/bin/overlay is the JVM itself, sent $(head -1 "$work/datagram") and exited 0 on SIGTERM"

# The agent from /usr/bin with the archive (-Xshare:on) reaches ready: etcd on the namespace's loopback with the
# network config, a veth pair as the underlay, subnet.env and the "Running:" line within 60 s. Its java.io.tmpdir is a
# noexec tmpfs (in a mount namespace of its own), as /tmp is on hardened hosts, and so is XDG_CACHE_HOME (JNA's first
# choice, ~/.cache, is read-only under the unit): Netty's and JNA's native libraries, unpacked from the jar, must go
# to the package's directory instead, or they cannot be loaded.
ip -n "$ns" link add ul0 type veth peer name ul1
ip -n "$ns" addr add 198.18.78.1/24 dev ul0
ip -n "$ns" link set ul0 up
ip -n "$ns" link set ul1 up
ip netns exec "$ns" etcd --name deb --data-dir "$work/etcd" --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
  --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster deb=http://127.0.0.1:2380 \
  >"$work/etcd.log" 2>&1 &
etcd_pid=$!
trap 'kill "${agent:-}" "${listener:-}" "${etcd_pid:-}" 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"; cleanup' EXIT
for _ in $(seq 100); do
  ip netns exec "$ns" etcdctl --endpoints http://127.0.0.1:2379 endpoint health >/dev/null 2>&1 && break
  sleep 0.2
done
ip netns exec "$ns" etcdctl --endpoints http://127.0.0.1:2379 put /coreos.com/network/config \
  '{"Network":"100.64.0.0/16","Backend":{"Type":"udp"}}' >/dev/null || fail "etcd in $ns: $(cat "$work/etcd.log")"
started=$(date +%s%3N)
mkdir "$work/noexec"
unshare -m sh -c 'mount -t tmpfs -o noexec,nosuid,nodev tmpfs "$1" && shift && exec "$@"' _ "$work/noexec" \
  ip netns exec "$ns" env OVERLAY_JAVA_OPTS="-Xshare:on -Djava.io.tmpdir=$work/noexec" XDG_CACHE_HOME="$work/noexec" \
  /usr/bin/overlay \
  --etcd-endpoints http://127.0.0.1:2379 --iface ul0 --subnet-file "$work/ready.env" >"$work/ready.log" 2>&1 &
agent=$!
for _ in $(seq 600); do
  [ -s "$work/ready.env" ] && grep -q 'Running: ready' "$work/ready.log" && break
  kill -0 "$agent" 2>/dev/null || break
  sleep 0.1
done
ready_ms=$(($(date +%s%3N) - started))
grep -q 'Running: ready' "$work/ready.log" && [ -s "$work/ready.env" ] \
  || fail "/usr/bin/overlay with the archive not ready within 60 s: $(cat "$work/ready.log")"
kill -TERM "$agent"
set +e
wait "$agent"
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "/usr/bin/overlay exited $rc after SIGTERM, not 0: $(cat "$work/ready.log")"
echo "test-deb: /usr/bin/overlay with the archive and a noexec java.io.tmpdir was ready in $ready_ms ms" \
  "(subnet.env written) and exited 0"

apt_get purge overlay >/dev/null || fail "apt purge overlay"
dpkg -s overlay >/dev/null 2>&1 && fail "overlay still known to dpkg after purge"
left=()
for p in "${paths[@]}"; do
  keep=0
  for q in "${preexisting[@]}"; do [ "$p" = "$q" ] && keep=1 && break; done
  if [ "$keep" -eq 0 ] && [ -e "$p" ]; then left+=("$p"); fi
done
[ -e /var/cache/overlay ] && left+=(/var/cache/overlay)
[ "${#left[@]}" -eq 0 ] || fail "purge left: ${left[*]}"
echo "test-deb: purge removed every path of the package that was not there before ($((${#paths[@]} - ${#preexisting[@]})) of ${#paths[@]})"
