#!/usr/bin/env bash
# overlay demo: three hosts, two containers each, one flannel-compatible (udp backend) overlay between them.
#
#   sudo overlay-examples/demo.sh [--runtime netns|cni|lxc|docker]
#
# --runtime says what the containers are (default netns):
#   netns   hand-made network namespaces on a bridge cbr0 that OverlayMain makes (--bridge cbr0), addressed .2 and .3
#   cni     namespaces added by Debian's CNI plugins (/usr/lib/cni bridge + host-local, per the CNI spec) with the
#           conflist "overlay cni-conf" makes from the host's subnet.env
#   lxc     LXC containers created offline from LXC's busybox template, addressed by the dnsmasq that LXC's lxc-net
#           script starts from the /etc/default/lxc-net "overlay lxc-net" makes (bridge lxcbr0, the host's subnet),
#           with the container MTU from "overlay lxc-net --format container"
#   docker  one dockerd per host with the daemon.json "overlay docker-opts --format daemon-json" makes (bip, mtu),
#           its own data root, exec root, pid file and socket, and a busybox image imported from a local rootfs
# Bridges, dnsmasq, dockerd, lxc-net's nftables rules and the CNI plugins' iptables rules all live inside the host
# namespaces.
#
# Everything runs in network namespaces this script creates and removes again (also on failure or Ctrl-C), named
# with a per-run prefix ovd<pid of this script>- so several runs at once do not meet:
#   ovd<pid>-infra       the underlay: bridge ul0 with 198.18.0.254/24, and etcd listening on 198.18.0.254:2379
#   ovd<pid>-h1..h3      hosts 198.18.0.1-3/24 on that bridge, each running OverlayMain through the launcher script
#                        the Debian package installs as /usr/bin/overlay (packaging/deb/overlay.sh: its JVM options,
#                        the CDS archive target/overlay.jsa)
#                        with its own --subnet-file and --healthz-port 8471 (and --bridge cbr0 for netns)
#   ovd<pid>-h1c1..h3c2  (netns, cni) containers on their host's bridge, addresses from the host's FLANNEL_SUBNET,
#                        MTU FLANNEL_MTU; lxc and docker containers are named h1c1..h3c2 the same way
# The clean-up kills every process left in those namespaces before deleting them. Namespaces of an earlier run whose
# script is gone (killed with -9) are removed at the start of the next run.
# Then every container pings every container on the other hosts, and the script prints N/N pairs reachable.
# Only 198.18.0.0/15 (underlay) and 100.64.0.0/10 (overlay) addresses are used; nothing leaves the namespaces and
# the root namespace's interfaces and routes are not touched.
#
# Environment: JAVA_OPTS (extra JVM options, after the launcher's defaults), KEEP_LOGS=1 keeps the temp dir with the logs (it is
# always kept on failure, with the build log, etcd and OverlayMain logs and every ping's output; the path is printed).
# Exit status: 0 when every pair is reachable, 1 on failure, 129/130/143 when interrupted (HUP, Ctrl-C, TERM); the
# clean-up runs to its end however often the script is interrupted again meanwhile.
set -eEuo pipefail

RUNTIME=netns
while [ $# -gt 0 ]; do
  case $1 in
    --runtime) RUNTIME=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
    --runtime=*) RUNTIME=${1#*=}; shift ;;
    -h|--help) sed -n '2,/^set -eEuo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) printf 'demo: error: unknown argument %s (usage: demo.sh [--runtime netns|cni|lxc|docker])\n' "$1" >&2; exit 2 ;;
  esac
done
case $RUNTIME in
  netns|cni|lxc|docker) ;;
  *) printf 'demo: error: --runtime must be netns, cni, lxc or docker, got "%s"\n' "$RUNTIME" >&2; exit 2 ;;
esac

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
JAVA_OPTS=${JAVA_OPTS:-}
# every overlay command runs as /usr/bin/overlay would run it, from the build's jar and archive
OVERLAY="$ROOT/packaging/deb/overlay.sh"
export OVERLAY_JAR="$JAR" OVERLAY_CDS_ARCHIVE="$HERE/target/overlay.jsa" OVERLAY_JAVA_OPTS="$JAVA_OPTS"

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
case $RUNTIME in
  cni)
    [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
    command -v jq >/dev/null 2>&1 || need+=(jq)
    command -v iptables >/dev/null 2>&1 || need+=(iptables) ;;
  lxc)
    command -v lxc-start >/dev/null 2>&1 || need+=(lxc)
    command -v nft >/dev/null 2>&1 || need+=(nftables) # lxc-net's rules (else iptables)
    command -v dnsmasq >/dev/null 2>&1 || need+=(dnsmasq-base)
    dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static) ;;
  docker)
    command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
    dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
    command -v iptables >/dev/null 2>&1 || need+=(iptables) ;;
esac
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
    # lxc and docker.io start lxc-net (a bridge and dnsmasq) and dockerd in the root namespace when installed where
    # services run; the demo runs its own inside namespaces, so service starts are refused during the install
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      # removed however the install ends (failure, Ctrl-C, SIGTERM): left behind, it would keep every later package
      # install on this machine from starting its services, silently
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
    fi
    apt-get install -y -qq "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
    if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
    # Debian's etcd-server package starts a system etcd on 127.0.0.1:2379; the demo runs its own, so stop that.
    if [[ " ${need[*]} " == *" etcd-server "* ]]; then systemctl stop etcd >/dev/null 2>&1 || true; fi
    # policy-rc.d only keeps services from starting now: the packages leave them enabled, so they start at the next
    # boot, in the host's own namespace. Say so; whether to keep them is the machine owner's choice.
    units=(); what=()
    if [[ " ${need[*]} " == *" etcd-server "* ]]; then units+=(etcd); what+=("etcd on 127.0.0.1:2379"); fi
    if [[ " ${need[*]} " == *" docker.io "* ]]; then
      units+=(docker.socket docker); what+=("dockerd with docker0 and its iptables rules")
    fi
    if [[ " ${need[*]} " == *" lxc "* ]]; then units+=(lxc-net); what+=("lxc-net's lxcbr0 and dnsmasq"); fi
    if [ "${#units[@]}" -gt 0 ]; then
      old_ifs=$IFS; IFS=';'; what_list="${what[*]}"; IFS=$old_ifs
      say "note: the packages just installed left ${units[*]} enabled: they start at the next boot, in the host's" \
        "own namespace (${what_list//;/; }); the demo needs none of them (to keep them off: systemctl disable ${units[*]})"
    fi
  else
    die "missing ${need[*]/JAVA/java}: install iproute2, ping, procps (sysctl), util-linux (flock), etcd 3.4+ (server and etcdctl), Java 17+ and Maven 3.8+"
  fi
fi
if [ "$RUNTIME" = lxc ]; then
  # LXC's lxc-net script: Debian 12 (lxc 5), then older multiarch paths
  LXC_NET=
  for f in /usr/libexec/lxc/lxc-net /usr/lib/*/lxc/lxc-net /usr/lib/lxc/lxc-net; do
    [ -x "$f" ] && { LXC_NET=$f; break; }
  done
  [ -n "$LXC_NET" ] || die "LXC's lxc-net script is missing (Debian package lxc)"
  [ -f /etc/default/lxc-net ] || die "/etc/default/lxc-net is missing (Debian package lxc ships it)"
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

# --- the container runtimes -----------------------------------------------------------------------------------
# Containers made so far, "<host number> <name>", for runtime_cleanup (recorded before each is made).
MADE=()
DOCKERD_PIDS=()
DOCKER=$(command -v /usr/bin/docker || command -v docker || true)
docker_h() { local h=$1; shift; "$DOCKER" -H "unix://$TMP/h$h/docker.sock" "$@"; }
host_of() { local h=${1#h}; echo "${h%%c*}"; }
# The CNI plugin of the host's conflist (bridge, with host-local), run per the CNI spec inside the host namespace.
cni() {
  local h=$1 cmd=$2 c=$3 plugin
  plugin=$(jq -r .type "$TMP/h$h/plugin.json")
  ip netns exec "$P-h$h" env CNI_COMMAND="$cmd" CNI_CONTAINERID="$c" CNI_NETNS="/var/run/netns/$P-$c" \
    CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "/usr/lib/cni/$plugin" <"$TMP/h$h/plugin.json"
}
# Runs a command inside a container.
cexec() {
  local c=$1; shift
  case $RUNTIME in
    netns|cni) ip netns exec "$P-$c" "$@" ;;
    lxc) nsenter --net="/var/run/netns/$P-h$(host_of "$c")" lxc-attach -P "$TMP/lxc" -n "$c" -- "$@" ;;
    docker) docker_h "$(host_of "$c")" exec "$c" "$@" ;;
  esac
}
# Directories under /run that LXC (its lock files, under the lxcpath: this run's temp dir) and dockerd/containerd
# (plugin and shim socket directories, at fixed paths whatever the exec root) make; those missing before the run are
# removed again by runtime_cleanup when empty (another run's files keep them).
case $RUNTIME in
  lxc) RUN_DIRS=(/run/lxc /run/lxc/lock /run/lxc/lock/tmp) ;;
  docker) RUN_DIRS=(/run/docker /run/docker/plugins /run/containerd /run/containerd/s) ;;
  *) RUN_DIRS=() ;;
esac
RUN_DIRS_NEW=()
for d in "${RUN_DIRS[@]}"; do [ -e "$d" ] || RUN_DIRS_NEW=("$d" "${RUN_DIRS_NEW[@]}"); done # deepest first
# Removes what the runtime made (CNI DEL, LXC containers, Docker containers and daemons) before the namespaces go.
runtime_cleanup() {
  local entry h c pid
  for entry in "${MADE[@]}"; do
    h=${entry% *}; c=${entry#* }
    case $RUNTIME in
      cni) cni "$h" DEL "$c" >/dev/null 2>&1 ;;
      lxc)
        timeout 30 nsenter --net="/var/run/netns/$P-h$h" lxc-stop -P "$TMP/lxc" -n "$c" -k >/dev/null 2>&1
        timeout 60 lxc-destroy -P "$TMP/lxc" -n "$c" >/dev/null 2>&1 ;;
      docker) timeout 60 "$DOCKER" -H "unix://$TMP/h$h/docker.sock" rm -f "$c" >/dev/null 2>&1 ;;
    esac
  done
  if [ "${#DOCKERD_PIDS[@]}" -gt 0 ]; then
    # dockerd unmounts its network namespace files under the exec root when it stops; give it time (20 s)
    kill -TERM "${DOCKERD_PIDS[@]}" 2>/dev/null
    for _ in $(seq 200); do
      alive=0
      for pid in "${DOCKERD_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
  fi
  if [ "$RUNTIME" = lxc ] && [ -n "$TMP" ]; then rm -rf "/run/lxc/lock$TMP"; fi
  for d in "${RUN_DIRS_NEW[@]}"; do rmdir "$d" 2>/dev/null; done
}

cleanup() {
  local rc=$?
  # first of all: a second Ctrl-C (or timeout(1), which passes its signal on to the whole process group) must not cut
  # the clean-up short and leave namespaces, OverlayMain and the runtimes' daemons behind (once 'trap - EXIT' below
  # ran, the INT trap's exit would skip it entirely); the agents and runtime daemons are stopped with time limits,
  # the rest (namespace deletion, CNI DEL) are single quick commands; only SIGKILL cuts the clean-up short now
  trap '' INT TERM HUP
  set +eE
  trap - ERR
  exec 1>&3 2>&4
  trap - EXIT
  [ -n "$FG" ] && kill -TERM "$FG" 2>/dev/null
  runtime_cleanup
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
  if [ "$rc" != 0 ] && [ "$rc" != 129 ] && [ "$rc" != 130 ] && [ "$rc" != 143 ]; then
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
trap 'exit 129' HUP
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
  build_start=$SECONDS
  if ! run mvn -B -Dstyle.color=never -f "$ROOT/pom.xml" -DskipTests package -pl overlay-examples -am \
      >"$TMP/build.log" 2>&1; then
    tail -40 "$TMP/build.log" >&2
    die "the build failed (whole log: $TMP/build.log)"
  fi
  say "built overlay.jar ($((SECONDS - build_start)) s)"
fi
flock -u 5
exec 5>&-
# the time the final line reports: the demo itself, not installing packages or building the jar
START=$SECONDS

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
  bridge=(); [ "$RUNTIME" = netns ] && bridge=(--bridge cbr0) # the other runtimes make their own bridge
  ip netns exec "$P-h$h" sh "$OVERLAY" --etcd-endpoints "$ETCD" --iface eth0 "${bridge[@]}" \
    --subnet-file "$TMP/h$h/subnet.env" --healthz-ip 127.0.0.1 --healthz-port "$HEALTH_PORT" \
    >"$TMP/h$h/overlay.log" 2>&1 &
  PIDS+=($!)
  say "host h$h (198.18.0.$h): OverlayMain started, log $TMP/h$h/overlay.log"
done

health() { run ip netns exec "$P-h$1" sh "$OVERLAY" health --healthz-port "$HEALTH_PORT" >"$TMP/health"; }
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
ojava() { sh "$OVERLAY" "$@"; }
if [ "$RUNTIME" = lxc ] || [ "$RUNTIME" = docker ]; then
  # busybox-static as a root file system: the LXC template copies it, Docker imports this tarball (nothing is pulled)
  r="$TMP/busybox-rootfs"
  mkdir -p "$r/bin" "$r/etc" "$r/proc" "$r/sys" "$r/dev" "$r/tmp"
  cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
  tar -C "$r" -cf "$TMP/busybox-rootfs.tar" .
fi
for h in "${HOSTS[@]}"; do
  # shellcheck disable=SC1090
  FLANNEL_SUBNET=; FLANNEL_MTU=; . "$TMP/h$h/subnet.env"
  gw=${FLANNEL_SUBNET%/*}
  len=${FLANNEL_SUBNET#*/}
  base=${gw%.*}
  say "h$h subnet.env: FLANNEL_SUBNET=$FLANNEL_SUBNET FLANNEL_MTU=$FLANNEL_MTU"
  case $RUNTIME in
    cni)
      run ojava cni-conf --subnet-file "$TMP/h$h/subnet.env" --ipam-data-dir "$TMP/h$h/ipam" \
        -o "$TMP/h$h/overlay.conflist"
      # a runtime hands each plugin its entry of the list with the list's name and cniVersion
      jq -c '.plugins[0] + {name: .name, cniVersion: .cniVersion}' "$TMP/h$h/overlay.conflist" >"$TMP/h$h/plugin.json"
      say "h$h CNI plugin configuration: $(cat "$TMP/h$h/plugin.json")" ;;
    lxc)
      run ojava lxc-net --subnet-file "$TMP/h$h/subnet.env" -o "$TMP/h$h/lxc-net"
      run ojava lxc-net --format container --subnet-file "$TMP/h$h/subnet.env" -o "$TMP/h$h/container.conf"
      { echo "lxc.apparmor.profile = unconfined"; cat "$TMP/h$h/container.conf"; } >"$TMP/h$h/create.conf"
      # LXC's own lxc-net start inside the host namespace (its sysfs, nftables, ip_forward), in a mount namespace
      # of its own where the generated file is /etc/default/lxc-net (which /etc/default/lxc sources), a tmpfs is /run
      # (lxc-net's network_up, dnsmasq's pid file) and $TMP/h$h/misc is /var/lib/misc (dnsmasq's lease file); the
      # dnsmasq it leaves running dies with the namespace
      mkdir -p "$TMP/h$h/misc"
      run ip netns exec "$P-h$h" unshare --mount --propagation private sh -c 'set -e
        mount --bind "$1" /etc/default/lxc-net; mount -t tmpfs -o mode=0755 tmpfs /run
        mount --bind "$2" /var/lib/misc; exec "$3" start' sh "$TMP/h$h/lxc-net" "$TMP/h$h/misc" "$LXC_NET" \
        >"$TMP/h$h/lxc-net.log" 2>&1 || { cat "$TMP/h$h/lxc-net.log" >&2; die "lxc-net start failed in h$h"; }
      # shellcheck disable=SC1090
      . "$TMP/h$h/lxc-net"
      say "h$h lxc-net: $(nsx "h$h" ip -4 -o addr show dev "$LXC_BRIDGE" | awk '{print $2, $4}'), dnsmasq hands out $LXC_DHCP_RANGE" ;;
    docker)
      run ojava docker-opts --format daemon-json --subnet-file "$TMP/h$h/subnet.env" -o "$TMP/h$h/daemon.json"
      say "h$h daemon.json: $(tr -d ' \n' <"$TMP/h$h/daemon.json")"
      # nsenter, not ip netns exec: dockerd needs the cgroup mounts that ip netns exec's fresh /sys hides;
      # unshare --mount keeps the mounts dockerd makes under its exec root out of the host's mount namespace
      unshare --mount --propagation private nsenter --net="/var/run/netns/$P-h$h" dockerd --config-file "$TMP/h$h/daemon.json" \
        --data-root "$TMP/h$h/docker" --exec-root "$TMP/h$h/exec" --pidfile "$TMP/h$h/docker.pid" \
        -H "unix://$TMP/h$h/docker.sock" --storage-driver vfs >"$TMP/h$h/dockerd.log" 2>&1 &
      DOCKERD_PIDS+=($!); PIDS+=($!)
      for i in $(seq 120); do
        docker_h "$h" version >/dev/null 2>&1 && break
        [ "$i" = 120 ] && { tail -20 "$TMP/h$h/dockerd.log" >&2; die "dockerd of h$h did not start in 60 s"; }
        sleep 0.5
      done
      run docker_h "$h" import -c 'ENV PATH=/bin' "$TMP/busybox-rootfs.tar" overlay/busybox:local >/dev/null ;;
  esac
  for c in "${CONTAINERS[@]}"; do
    ns="h${h}c$c"
    MADE+=("$h $ns")
    case $RUNTIME in
      netns)
        addr="$base.$((c + 1))"
        ip netns add "$P-$ns"
        nsx "$ns" ip link set lo up
        nsx "h$h" ip link add "vc$c" type veth peer name eth0 netns "$P-$ns"
        nsx "h$h" ip link set "vc$c" mtu "$FLANNEL_MTU" master cbr0 up
        nsx "$ns" ip addr add "$addr/$len" dev eth0
        nsx "$ns" ip link set eth0 mtu "$FLANNEL_MTU" up
        nsx "$ns" ip route add default via "$gw" ;;
      cni)
        ip netns add "$P-$ns"
        nsx "$ns" ip link set lo up
        result=$(cni "$h" ADD "$ns") || die "CNI ADD of $ns failed: $result"
        addr=$(jq -r '.ips[0].address' <<<"$result"); addr=${addr%/*} ;;
      lxc)
        run timeout 120 lxc-create -P "$TMP/lxc" -n "$ns" -t busybox -f "$TMP/h$h/create.conf" >"$TMP/$ns-create.log" 2>&1 \
          || die "lxc-create $ns failed (log $TMP/$ns-create.log)"
        # in the host namespace (ip netns exec: its sysfs, where LXC looks up lxcbr0), so the veth's host end is there
        run timeout 60 ip netns exec "$P-h$h" lxc-start -P "$TMP/lxc" -n "$ns" -d -l INFO -o "$TMP/$ns.log" \
          || die "lxc-start $ns failed (log $TMP/$ns.log)"
        addr=
        for i in $(seq 120); do
          addr=$(cexec "$ns" ip -4 -o addr show dev eth0 2>/dev/null | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p')
          [ -n "$addr" ] && break
          sleep 0.5
        done
        [ -n "$addr" ] || die "$ns got no address from the dnsmasq of h$h in 60 s" ;;
      docker)
        run docker_h "$h" run -d --name "$ns" overlay/busybox:local sleep 86400 >/dev/null
        addr=$(docker_h "$h" inspect -f '{{.NetworkSettings.IPAddress}}' "$ns") ;;
    esac
    mtu=$(cexec "$ns" ip -o link show dev eth0 2>/dev/null | sed -n 's/.* mtu \([0-9]*\) .*/\1/p' || true)
    say "  $ns: $addr mtu $mtu ($RUNTIME)"
    ADDR[$ns]=$addr
  done
done

# --- every container pings every container on the other hosts ------------------------------------------------
PING=(ping -c 2 -i 0.2 -W 2 -q)
if [ "$RUNTIME" = lxc ] || [ "$RUNTIME" = docker ]; then PING=(ping -c 2 -W 2 -q); fi # busybox ping inside
say "pinging every container from every container on another host (${PING[*]})"
mapfile -t NAMES < <(printf '%s\n' "${!ADDR[@]}" | sort)
mkdir -p "$TMP/ping"
ok=0
total=0
for src in "${NAMES[@]}"; do
  for dst in "${NAMES[@]}"; do
    [ "${src%c*}" = "${dst%c*}" ] && continue
    total=$((total + 1))
    if run cexec "$src" "${PING[@]}" "${ADDR[$dst]}" >"$TMP/ping/$src-$dst.txt" 2>&1; then
      ok=$((ok + 1)); result=ok
    else
      result=UNREACHABLE
    fi
    printf '  %-5s %-15s -> %-5s %-15s %s\n' "$src" "${ADDR[$src]}" "$dst" "${ADDR[$dst]}" "$result"
  done
done

say "$ok/$total pairs reachable ($((SECONDS - START)) s)"
[ "$ok" = "$total" ] || die "$((total - ok)) of $total pairs could not reach each other; ping output in $TMP/ping, logs in $TMP/h*/overlay.log"
