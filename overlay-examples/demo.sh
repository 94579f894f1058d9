#!/usr/bin/env bash
# overlay demo: three hosts, two containers each, one flannel-compatible (udp backend) overlay between them.
#
#   sudo overlay-examples/demo.sh
#
# Everything runs in network namespaces this script creates and removes again (also on failure or Ctrl-C):
#   ovdemo-infra         the underlay: bridge ul0 with 198.18.0.254/24, and etcd listening on 198.18.0.254:2379
#   ovdemo-h1..h3        hosts 198.18.0.1-3/24 on that bridge, each running OverlayMain (java -jar overlay.jar)
#                        with --bridge cbr0, its own --subnet-file and --healthz-port 8471
#   ovdemo-h1c1..h3c2    containers on their host's cbr0, addressed .2 and .3 from the host's FLANNEL_SUBNET,
#                        default route via the bridge address, MTU FLANNEL_MTU
# Then every container pings every container on the other hosts, and the script prints N/N pairs reachable.
# Only 198.18.0.0/15 (underlay) and 100.64.0.0/10 (overlay) addresses are used; nothing leaves the namespaces and
# the root namespace's interfaces and routes are not touched.
#
# Environment: JAVA_OPTS (default: small heap, quick start), KEEP_LOGS=1 keeps the temp dir with the logs.
# Exit status: 0 when every pair is reachable, 1 on failure, 130/143 when interrupted.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
JAR="$HERE/target/overlay.jar"
P=ovdemo
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
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sudo $0): the demo creates network namespaces, TUN devices and bridges"
[ "$(uname -s)" = Linux ] || die "Linux only"

# --- what the demo needs --------------------------------------------------------------------------------------
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
if [ "${#need[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    say "installing ${need[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
    # Debian's etcd-server package starts a system etcd on 127.0.0.1:2379; the demo runs its own, so stop that.
    if [[ " ${need[*]} " == *" etcd-server "* ]]; then systemctl stop etcd >/dev/null 2>&1 || true; fi
  else
    die "missing ${need[*]}: install iproute2, ping, etcd 3.4+ (server and etcdctl), Java 17+ and Maven 3.8+"
  fi
fi
jv=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
[ "${jv%%.*}" -ge 17 ] 2>/dev/null || die "Java 17 or newer is needed, found ${jv:-none} ($(command -v java))"
[ -e /dev/net/tun ] || modprobe tun 2>/dev/null || true
[ -e /dev/net/tun ] || die "/dev/net/tun is missing (modprobe tun; in a container pass --device /dev/net/tun)"

# --- build overlay.jar if it is missing or older than a source file -------------------------------------------
MODULES=(overlay-core overlay-tun overlay-etcd overlay-udp overlay-examples)
if [ ! -f "$JAR" ] || [ -n "$(cd "$ROOT" && find pom.xml "${MODULES[@]/%//pom.xml}" "${MODULES[@]/%//src/main}" \
    -newer "$JAR" -print -quit)" ]; then
  say "building $JAR (mvn package, tests skipped)"
  trap '[ -n "$FG" ] && kill -TERM "$FG" 2>/dev/null' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  run mvn -B -q -f "$ROOT/pom.xml" -DskipTests package -pl overlay-examples -am \
    || die "the build failed; run it yourself to see why: (cd $ROOT && mvn -DskipTests package -pl overlay-examples -am)"
fi

# --- clean-up, also on failure and Ctrl-C ---------------------------------------------------------------------
TMP=$(mktemp -d /tmp/overlay-demo.XXXXXX)
PIDS=()
exec 3>&1 4>&2 # the script's own stdout/stderr: a signal may arrive while a command's output is redirected
cleanup() {
  local rc=$?
  set +e
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
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do ip netns del "$ns" 2>/dev/null; done
  if [ "$rc" != 0 ] && [ "$rc" != 130 ] && [ "$rc" != 143 ]; then
    for log in "$TMP"/h*/overlay.log; do
      [ -f "$log" ] && { echo "--- last lines of $log"; tail -15 "$log"; } >&2
    done
  fi
  if [ "${KEEP_LOGS:-0}" = 1 ]; then
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

# Background processes are started with "ip netns exec" directly (not through a shell function), so $! is the
# process itself and the clean-up can signal it.
# Namespaces left by an earlier, killed run of this demo.
for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$ns"; done

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
  for i in $(seq 300); do [ -s "$TMP/h$h/subnet.env" ] && break; sleep 0.2; done
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
ok=0
total=0
for src in "${NAMES[@]}"; do
  for dst in "${NAMES[@]}"; do
    [ "${src%c*}" = "${dst%c*}" ] && continue
    total=$((total + 1))
    if run ip netns exec "$P-$src" ping -c 2 -i 0.2 -W 2 -q "${ADDR[$dst]}" >/dev/null 2>&1; then
      ok=$((ok + 1)); result=ok
    else
      result=UNREACHABLE
    fi
    printf '  %-5s %-12s -> %-5s %-12s %s\n' "$src" "${ADDR[$src]}" "$dst" "${ADDR[$dst]}" "$result"
  done
done

say "$ok/$total pairs reachable ($((SECONDS - START)) s)"
[ "$ok" = "$total" ] || die "some containers could not reach each other; see the logs"
