#!/usr/bin/env bash
# overlay demo: three hosts, two containers each, one flannel-compatible (udp backend) overlay between them.
#
#   sudo overlay-examples/demo.sh
#
# Everything runs in network namespaces this script creates and removes again (also on failure or Ctrl-C), named
# with a per-run prefix ovd<pid of this script>- so several runs at once do not meet:
#   ovd<pid>-infra       the underlay: bridge ul0 with 198.18.0.254/24, and etcd listening on 198.18.0.254:2379
#   ovd<pid>-h1..h3      hosts 198.18.0.1-3/24 on that bridge, each running OverlayMain (java -jar overlay.jar)
#                        with --bridge cbr0, its own --subnet-file and --healthz-port 8471
#   ovd<pid>-h1c1..h3c2  containers on their host's cbr0, addressed .2 and .3 from the host's FLANNEL_SUBNET,
#                        default route via the bridge address, MTU FLANNEL_MTU
# The clean-up kills every process left in those namespaces before deleting them. Namespaces of an earlier run whose
# script is gone (killed with -9) are removed at the start of the next run.
# Then every container pings every container on the other hosts, and the script prints N/N pairs reachable.
# Only 198.18.0.0/15 (underlay) and 100.64.0.0/10 (overlay) addresses are used; nothing leaves the namespaces and
# the root namespace's interfaces and routes are not touched.
#
# Environment: JAVA_OPTS (default: small heap, quick start), KEEP_LOGS=1 keeps the temp dir with the logs (it is
# always kept on failure, with the build log, etcd and OverlayMain logs and every ping's output; the path is printed).
# Exit status: 0 when every pair is reachable, 1 on failure, 130/143 when interrupted.
set -eEuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
JAR="$HERE/target/overlay.jar"
P=ovd$$
HOSTS=(1 2 3)
CONTAINERS=(1 2)
NETWORK=100.64.0.0/16
ETCD_IP=198.18.0.254
ETCD="http://$ETCD_IP:2379"
HEALTH_PORT=8471
JAVA_OPTS=${JAVA_OPTS:--Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1}
START=$SECONDS

say() { printf 'demo: %s\n' "$*"; }
# Runs a command in the background and waits for it. Java (mvn, OverlayMain health) and ping catch SIGINT and exit
# normally, and bash then ignores a Ctrl-C that arrived while such a command ran in the foreground; "wait" instead
# returns at once on a trapped signal, so Ctrl-C always reaches the clean-up, which also stops $FG.
FG=
run() { "$@" & FG=$!; local rc=0; wait "$FG" || rc=$?; FG=; return "$rc"; }
DIED=
die() { printf 'demo: error: %s\n' "$*" >&2; DIED=1; exit 1; }
# A command that fails under "set -e" says which one, so no failure is silent.
FAILED_AT=
trap 'FAILED_AT="line $LINENO: $BASH_COMMAND"' ERR

[ "$(id -u)" = 0 ] || die "run as root (sudo $0): the demo creates network namespaces, TUN devices and bridges"
[ "$(uname -s)" = Linux ] || die "Linux only"

# --- what the demo needs --------------------------------------------------------------------------------------
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v sysctl >/dev/null 2>&1 || need+=(procps)
command -v flock >/dev/null 2>&1 || need+=(util-linux)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v java >/dev/null 2>&1 || need+=(JAVA)
command -v mvn >/dev/null 2>&1 || need+=(maven)
if [ "${#need[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    say "updating the package lists (apt-get update)"
    apt-get update -qq || die "apt-get update failed"
    if [[ " ${need[*]} " == *" JAVA "* ]]; then
      # Java 17 by name where the distribution has it, else the distribution's default JDK (checked below: 17+)
      java_pkg=openjdk-17-jdk-headless
      apt-cache show "$java_pkg" >/dev/null 2>&1 || java_pkg=default-jdk-headless
      need=("${need[@]/JAVA/$java_pkg}")
    fi
    say "installing ${need[*]} (apt-get)"
    apt-get install -y -qq "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
    # Debian's etcd-server package starts a system etcd on 127.0.0.1:2379; the demo runs its own, so stop that.
    if [[ " ${need[*]} " == *" etcd-server "* ]]; then systemctl stop etcd >/dev/null 2>&1 || true; fi
  else
    die "missing ${need[*]/JAVA/java}: install iproute2, ping, procps (sysctl), util-linux (flock), etcd 3.4+ (server and etcdctl), Java 17+ and Maven 3.8+"
  fi
fi
jv=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
[ "${jv%%.*}" -ge 17 ] 2>/dev/null || die "Java 17 or newer is needed, found ${jv:-none} ($(command -v java))"
[ -e /dev/net/tun ] || modprobe tun 2>/dev/null || true
[ -e /dev/net/tun ] || die "/dev/net/tun is missing (modprobe tun; in a container pass --device /dev/net/tun)"

# --- clean-up, also on failure and Ctrl-C ---------------------------------------------------------------------
TMP=$(mktemp -d /tmp/overlay-demo.XXXXXX)
PIDS=()
exec 3>&1 4>&2 # the script's own stdout/stderr: a signal may arrive while a command's output is redirected

# Kills every process in a namespace (TERM, then KILL after 3 s), then deletes it.
delete_ns() {
  local ns=$1 pids i
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null
    for i in $(seq 30); do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [ -z "$pids" ] && break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  fi
  ip netns del "$ns" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +eE
  trap - ERR
  exec 1>&3 2>&4
  trap - EXIT INT TERM
  [ -n "$FG" ] && kill -TERM "$FG" 2>/dev/null
  [ "${#PIDS[@]}" -gt 0 ] && kill -TERM "${PIDS[@]}" 2>/dev/null
  local alive
  for _ in $(seq 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  [ "${#PIDS[@]}" -gt 0 ] && kill -KILL "${PIDS[@]}" 2>/dev/null
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do delete_ns "$ns"; done
  local failed=0
  if [ "$rc" != 0 ] && [ "$rc" != 130 ] && [ "$rc" != 143 ]; then
    failed=1
    [ -z "$DIED" ] && printf 'demo: error: a command failed with status %s (%s)\n' "$rc" "${FAILED_AT:-unknown}" >&2
    for log in "$TMP"/h*/overlay.log; do
      [ -f "$log" ] && { echo "--- last lines of $log"; tail -15 "$log"; } >&2
    done
  fi
  if [ "$failed" = 1 ]; then
    say "cleaned up (namespaces, processes); temp dir with the logs (and build log, ping output where made) kept in $TMP"
  elif [ "${KEEP_LOGS:-0}" = 1 ]; then
    say "cleaned up (namespaces, processes); logs kept in $TMP"
  else
    rm -rf "$TMP"
    say "cleaned up (namespaces, processes, temp dir)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Namespaces left by an earlier run of this demo whose script is gone (killed with -9): ovd<pid>- with a dead pid.
for ns in $(ip netns list | awk '{print $1}' | grep -E '^ovd[0-9]+-' || true); do
  owner=${ns#ovd}; owner=${owner%%-*}
  if [ "$owner" != $$ ] && ! grep -qs demo.sh "/proc/$owner/cmdline"; then
    say "removing $ns, left by an earlier run (pid $owner) that is gone"
    delete_ns "$ns"
  fi
done

# --- build overlay.jar if it is missing or older than a source file -------------------------------------------
# One build at a time: a second demo started meanwhile waits here and then uses the fresh jar.
mkdir -p "$HERE/target"
exec 5>"$HERE/target/.demo-build.lock"
if ! flock -n 5; then
  say "another demo run is building overlay.jar; waiting for it"
  run flock 5
fi
MODULES=(overlay-core overlay-tun overlay-etcd overlay-udp overlay-examples)
if [ ! -f "$JAR" ] || [ -n "$(cd "$ROOT" && find pom.xml "${MODULES[@]/%//pom.xml}" "${MODULES[@]/%//src/main}" \
    -newer "$JAR" -print -quit)" ]; then
  say "building overlay.jar (about 1-2 minutes the first time)..."
  if ! run mvn -B -Dstyle.color=never -f "$ROOT/pom.xml" -DskipTests package -pl overlay-examples -am \
      >"$TMP/build.log" 2>&1; then
    tail -40 "$TMP/build.log" >&2
    die "the build failed (whole log: $TMP/build.log)"
  fi
fi
flock -u 5
exec 5>&-

# Background processes are started with "ip netns exec" directly (not through a shell function), so $! is the
# process itself and the clean-up can signal it.
nsx() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }

# --- underlay and etcd ----------------------------------------------------------------------------------------
say "creating the underlay (198.18.0.0/24 on a bridge in namespace $P-infra) and starting etcd on $ETCD_IP"
ip netns add "$P-infra"
nsx infra ip link set lo up
nsx infra ip link add ul0 type bridge
nsx infra ip addr add "$ETCD_IP/24" dev ul0
nsx infra ip link set ul0 up
ip netns exec "$P-infra" etcd --name demo --data-dir "$TMP/etcd" \
  --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster demo=http://127.0.0.1:2380 >"$TMP/etcd.log" 2>&1 &
PIDS+=($!)
ctl() { nsx infra env ETCDCTL_API=3 etcdctl --endpoints "$ETCD" --dial-timeout 2s --command-timeout 3s "$@"; }
for i in $(seq 100); do ctl endpoint health >/dev/null 2>&1 && break; [ "$i" = 100 ] && die "etcd did not start (see $TMP/etcd.log)"; sleep 0.2; done
CONFIG="{\"Network\":\"$NETWORK\",\"SubnetLen\":24,\"Backend\":{\"Type\":\"udp\"}}"
ctl put /coreos.com/network/config "$CONFIG" >/dev/null
say "network config: $CONFIG"

# --- hosts ----------------------------------------------------------------------------------------------------
for h in "${HOSTS[@]}"; do
  ip netns add "$P-h$h"
  nsx "h$h" ip link set lo up
  nsx infra ip link add "ul-h$h" type veth peer name eth0 netns "$P-h$h"
  nsx infra ip link set "ul-h$h" master ul0 up
  nsx "h$h" ip addr add "198.18.0.$h/24" dev eth0
  nsx "h$h" ip link set eth0 mtu 1500 up
  nsx "h$h" sysctl -qw net.ipv4.ip_forward=1
  mkdir -p "$TMP/h$h"
  # shellcheck disable=SC2086
  ip netns exec "$P-h$h" java $JAVA_OPTS -jar "$JAR" --etcd-endpoints "$ETCD" --iface eth0 --bridge cbr0 \
    --subnet-file "$TMP/h$h/subnet.env" --healthz-ip 127.0.0.1 --healthz-port "$HEALTH_PORT" \
    >"$TMP/h$h/overlay.log" 2>&1 &
  PIDS+=($!)
  say "host h$h (198.18.0.$h): OverlayMain started, log $TMP/h$h/overlay.log"
done

# shellcheck disable=SC2086
health() { run ip netns exec "$P-h$1" java $JAVA_OPTS -jar "$JAR" health --healthz-port "$HEALTH_PORT" >"$TMP/health"; }
for h in "${HOSTS[@]}"; do
  for i in $(seq 300); do
    [ -s "$TMP/h$h/subnet.env" ] && break
    kill -0 "${PIDS[$h]}" 2>/dev/null || { tail -20 "$TMP/h$h/overlay.log" >&2; die "OverlayMain of host h$h exited (log $TMP/h$h/overlay.log)"; }
    sleep 0.2
  done
  [ -s "$TMP/h$h/subnet.env" ] || { tail -20 "$TMP/h$h/overlay.log" >&2; die "host h$h wrote no subnet.env in 60 s"; }
  line=""
  for i in $(seq 20); do
    if health "$h"; then line=$(cat "$TMP/health"); break; fi
    line=$(cat "$TMP/health")
    [ "$i" = 20 ] && { tail -20 "$TMP/h$h/overlay.log" >&2; die "host h$h is not ready: $line"; }
    sleep 0.5
  done
  say "h$h health: $line"
done

# --- containers -----------------------------------------------------------------------------------------------
declare -A ADDR
for h in "${HOSTS[@]}"; do
  # shellcheck disable=SC1090
  FLANNEL_SUBNET=; FLANNEL_MTU=; . "$TMP/h$h/subnet.env"
  gw=${FLANNEL_SUBNET%/*}
  len=${FLANNEL_SUBNET#*/}
  base=${gw%.*}
  say "h$h subnet.env: FLANNEL_SUBNET=$FLANNEL_SUBNET FLANNEL_MTU=$FLANNEL_MTU"
  for c in "${CONTAINERS[@]}"; do
    ns="h${h}c$c"
    addr="$base.$((c + 1))"
    ip netns add "$P-$ns"
    nsx "$ns" ip link set lo up
    nsx "h$h" ip link add "vc$c" type veth peer name eth0 netns "$P-$ns"
    nsx "h$h" ip link set "vc$c" mtu "$FLANNEL_MTU" master cbr0 up
    nsx "$ns" ip addr add "$addr/$len" dev eth0
    nsx "$ns" ip link set eth0 mtu "$FLANNEL_MTU" up
    nsx "$ns" ip route add default via "$gw"
    ADDR[$ns]=$addr
  done
done

# --- every container pings every container on the other hosts ------------------------------------------------
say "pinging every container from every container on another host (ping -c 2 -W 2)"
mapfile -t NAMES < <(printf '%s\n' "${!ADDR[@]}" | sort)
mkdir -p "$TMP/ping"
ok=0
total=0
for src in "${NAMES[@]}"; do
  for dst in "${NAMES[@]}"; do
    [ "${src%c*}" = "${dst%c*}" ] && continue
    total=$((total + 1))
    if run ip netns exec "$P-$src" ping -c 2 -i 0.2 -W 2 -q "${ADDR[$dst]}" >"$TMP/ping/$src-$dst.txt" 2>&1; then
      ok=$((ok + 1)); result=ok
    else
      result=UNREACHABLE
    fi
    printf '  %-5s %-12s -> %-5s %-12s %s\n' "$src" "${ADDR[$src]}" "$dst" "${ADDR[$dst]}" "$result"
  done
done

say "$ok/$total pairs reachable ($((SECONDS - START)) s)"
[ "$ok" = "$total" ] || die "$((total - ok)) of $total pairs could not reach each other; ping output in $TMP/ping, logs in $TMP/h*/overlay.log"
