#!/usr/bin/env bash
# traffic-memory.sh - resident memory of two overlay agents while iperf3 runs TCP between them through the overlay.
#
#   sudo benchmarks/traffic-memory.sh                    # one stream for 30 s
#   sudo benchmarks/traffic-memory.sh --streams 4 --duration 60
#
# Makes its own namespaces (tm<pid>-x with etcd on a bridge underlay 198.18.0.254/24; tm<pid>-h1 and -h2 on
# 198.18.0.1 and .2) and its own etcd (Network 100.64.0.0/16, udp), starts OverlayMain on both hosts through the
# launcher script the Debian package installs (packaging/deb/overlay.sh: its JVM options and the build's CDS archive,
# no health server, as the package's default configuration), waits until both are ready and see each other, then
# runs `iperf3 -c <h2's TUN address> -t D -P S` from h1. VmRSS of both agents is sampled every 0.5 s. Reports per
# agent: RSS idle (10 s after ready, before the traffic), the peak of the VmRSS samples from the start of iperf3 to
# 10 s after its end (not VmHWM, which includes the start), RSS 10 s after it, and iperf3's receiver Gbit/s.
# Everything it made is removed on exit, also on failure or Ctrl-C.
# Environment: OVERLAY_JAR (default overlay-examples/target/overlay.jar; its archive is the .jsa beside it),
# OVERLAY_JAVA_OPTS (options after the launcher's defaults, which they override).
# Needs root, etcd and etcdctl, iperf3, ip, and a built jar (mvn -B -DskipTests package).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
duration=30 streams=1
while (($#)); do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --streams) streams=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "traffic-memory: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "traffic-memory: run as root (TUN devices, network namespaces)" >&2; exit 1; }
for t in etcd etcdctl iperf3 ip; do
  command -v $t >/dev/null || { echo "traffic-memory: $t missing" >&2; exit 1; }
done
jar=${OVERLAY_JAR:-$repo/overlay-examples/target/overlay.jar}
[[ -f $jar ]] || { echo "traffic-memory: $jar missing: mvn -B -DskipTests package" >&2; exit 1; }
export OVERLAY_JAR=$jar OVERLAY_CDS_ARCHIVE=${OVERLAY_CDS_ARCHIVE:-${jar%.jar}.jsa}

x=tm$$-x h1=tm$$-h1 h2=tm$$-h2
work=$(mktemp -d /tmp/traffic-memory.XXXXXX)
etcd_pid= agents=() sampler=
cleanup() {
  [[ -n $sampler ]] && kill "$sampler" 2>/dev/null || true
  for p in "${agents[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${agents[@]}"; do timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
  [[ -n $etcd_pid ]] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null || true
  for ns in "$h1" "$h2" "$x"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true; done
  for ns in "$h1" "$h2" "$x"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
die() { echo "traffic-memory: $*" >&2; for f in "$work"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }

ip netns add "$x"
ip -n "$x" link set lo up
ip -n "$x" link add br0 type bridge
ip -n "$x" addr add 198.18.0.254/24 dev br0
ip -n "$x" link set br0 up
i=0
for h in "$h1" "$h2"; do
  i=$((i + 1))
  ip netns add "$h"
  ip -n "$h" link set lo up
  ip -n "$x" link add "v$i" type veth peer name eth0 netns "$h"
  ip -n "$x" link set "v$i" master br0 up
  ip -n "$h" addr add "198.18.0.$i/24" dev eth0
  ip -n "$h" link set eth0 up
done
ip netns exec "$x" etcd --name tm --data-dir "$work/etcd" --listen-client-urls http://198.18.0.254:2379 \
  --advertise-client-urls http://198.18.0.254:2379 --listen-peer-urls http://127.0.0.1:2380 \
  --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster tm=http://127.0.0.1:2380 \
  >"$work/etcd.log" 2>&1 &
etcd_pid=$!
ctl() { ip netns exec "$x" etcdctl --endpoints http://198.18.0.254:2379 "$@"; }
for _ in $(seq 100); do ctl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
ctl put /coreos.com/network/config '{"Network":"100.64.0.0/16","SubnetLen":24,"Backend":{"Type":"udp"}}' >/dev/null \
  || die "etcd did not start"

i=0
for h in "$h1" "$h2"; do
  i=$((i + 1))
  ip netns exec "$h" sh "$repo/packaging/deb/overlay.sh" --etcd-endpoints http://198.18.0.254:2379 --iface eth0 \
    --subnet-file "$work/h$i.env" >"$work/agent-h$i.log" 2>&1 &
  agents+=($!)
done
ready() { grep -qs 'Running: ' "$work/agent-h1.log" && grep -qs 'Running: ' "$work/agent-h2.log"; }
for _ in $(seq 600); do ready && break; sleep 0.05; done
ready || die "the agents were not ready within 30 s"
# the TUN address of h2: its subnet's .0 on the TUN device (flannel's udp backend), from subnet.env's FLANNEL_SUBNET
tun2=$(sed -n 's/^FLANNEL_SUBNET=\([0-9.]*\)\.[0-9]*\/.*/\1.0/p' "$work/h2.env")
[[ -n $tun2 ]] || die "no FLANNEL_SUBNET in $work/h2.env"
for _ in $(seq 100); do ip netns exec "$h1" ping -c 1 -W 1 "$tun2" >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec "$h1" ping -c 1 -W 1 "$tun2" >/dev/null || die "h1 cannot reach h2's TUN address $tun2"

rss() { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
sleep 10
idle1=$(rss "${agents[0]}" VmRSS) idle2=$(rss "${agents[1]}" VmRSS)
# the peak of the traffic alone: VmHWM would include the start; sample VmRSS instead
(while :; do echo "$(rss "${agents[0]}" VmRSS) $(rss "${agents[1]}" VmRSS)"; sleep 0.5; done) >"$work/rss.txt" &
sampler=$!
ip netns exec "$h2" iperf3 -s -1 -B "$tun2" >"$work/iperf3-server.log" 2>&1 &
sleep 0.5
ip netns exec "$h1" timeout $((duration + 30)) iperf3 -c "$tun2" -t "$duration" -P "$streams" -J \
  >"$work/iperf3.json" 2>"$work/iperf3.log" || die "iperf3 failed"
sleep 10
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=
after1=$(rss "${agents[0]}" VmRSS) after2=$(rss "${agents[1]}" VmRSS)
gbps=$(python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' \
  "$work/iperf3.json" 2>/dev/null || echo "?")
read -r peak1 peak2 < <(awk '$1 > a { a = $1 } $2 > b { b = $2 } END { printf "%.1f %.1f\n", a, b }' "$work/rss.txt")
echo "traffic-memory: jar $jar, iperf3 -t $duration -P $streams, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "traffic-memory: iperf3 h1 -> h2 $gbps Gbit/s (received)"
printf '%-6s %-13s %-16s %s\n' agent idle_MiB peak_traffic_MiB after_10s_MiB
printf '%-6s %-13s %-16s %s\n' h1 "$idle1" "$peak1" "$after1"
printf '%-6s %-13s %-16s %s\n' h2 "$idle2" "$peak2" "$after2"
