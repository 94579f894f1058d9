#!/usr/bin/env bash
# startup-bench.sh - start-up time, CPU and memory of the overlay launcher with one peer and a local etcd.
#
#   sudo benchmarks/startup-bench.sh                         # 5 starts with the launcher's default JVM options
#   sudo benchmarks/startup-bench.sh --runs 3 --idle 20 --nmt # NMT summary of the last run too
#   sudo OVERLAY_JAVA_OPTS='-XX:+UseG1GC' benchmarks/startup-bench.sh   # other JVM options (as the launcher takes them)
#
# Each run starts packaging/deb/overlay.sh (the launcher script the Debian package installs as /usr/bin/overlay,
# pointed at overlay-examples/target/overlay.jar) in a network namespace of its own with a veth underlay interface
# (198.18.77.1/24) and an etcd member on the namespace's loopback holding the network config (100.64.0.0/16, udp)
# and one peer lease. It reports per run: ms from the launch until subnet.env exists ("env") and until the ready
# log line ("Running: ...") appears ("ready"), CPU-seconds (user+system) at ready and after --idle seconds, RSS
# after --idle seconds (VmRSS, and Rss/Pss/Anonymous of /proc/PID/smaps_rollup), threads, and then medians.
# --nmt adds -XX:NativeMemoryTracking=summary to the last run and prints `jcmd PID VM.native_memory summary` and the
# thread names. Every run removes its lease afterwards so each start allocates a subnet as a first start does.
# --launcher FILE runs another launcher script (e.g. an older one, for a before/after) with OVERLAY_JAR and
# OVERLAY_CDS_ARCHIVE in its environment.
# --classlist FILE instead writes the classes one start loads (-XX:DumpLoadedClassList, one run, without the archive)
# to FILE, less those no archive can hold; overlay-examples/src/main/cds/overlay.classlist is made this way.
# Needs root, etcd and etcdctl, ip, and a built overlay-examples/target/overlay.jar (mvn -B -DskipTests package).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
runs=5 idle=10 nmt=0 classlist= launcher=$repo/packaging/deb/overlay.sh
while (($#)); do
  case $1 in
    --launcher) launcher=$2; shift 2 ;;
    --classlist) classlist=$2; runs=1; idle=2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --nmt) nmt=1; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "startup-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "startup-bench: run as root (TUN device, network namespace)" >&2; exit 1; }
for t in etcd etcdctl ip; do
  command -v $t >/dev/null || { echo "startup-bench: $t missing" >&2; exit 1; }
done
jar=${OVERLAY_JAR:-$repo/overlay-examples/target/overlay.jar}
[[ -f $jar ]] || { echo "startup-bench: $jar missing: mvn -B -DskipTests package" >&2; exit 1; }

ns=ovsb-$$
work=$(mktemp -d /tmp/startup-bench.XXXXXX)
etcd_pid=
cleanup() {
  [[ -n ${agent:-} ]] && kill -KILL "$agent" 2>/dev/null || true
  [[ -n $etcd_pid ]] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add under0 type veth peer name under1
ip -n "$ns" link set under1 up
ip -n "$ns" addr add 198.18.77.1/24 dev under0
ip -n "$ns" link set under0 up
ip netns exec "$ns" etcd --name sb --data-dir "$work/etcd" --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
  --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster sb=http://127.0.0.1:2380 \
  >"$work/etcd.log" 2>&1 &
etcd_pid=$!
ctl() { ip netns exec "$ns" etcdctl --endpoints http://127.0.0.1:2379 "$@"; }
for _ in $(seq 100); do ctl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
ctl put /coreos.com/network/config '{"Network":"100.64.0.0/16","SubnetLen":24,"Backend":{"Type":"udp"}}' >/dev/null
peer_lease=$(ctl lease grant 3600 | awk '{print $2}')
ctl put --lease="$peer_lease" /coreos.com/network/subnets/100.64.200.0-24 \
  '{"PublicIP":"198.18.77.2","BackendType":"udp"}' >/dev/null

# The launcher script as installed, pointed at the build's jar and archive (overlay.jsa beside the jar)
export OVERLAY_JAR=$jar OVERLAY_CDS_ARCHIVE=${OVERLAY_CDS_ARCHIVE:-${jar%.jar}.jsa}

ms_now() { date +%s%3N; }
cpu_s() { # utime+stime of a process, seconds
  sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($12+$13)/hz}' 
}
rollup() { awk '/^(Rss|Pss|Anonymous):/ {printf "%s%d ", $1, $2/1024}' "/proc/$1/smaps_rollup"; }

echo "startup-bench: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), jar $jar"
echo "startup-bench: launcher $launcher, JVM options $(sed -n "s/^java_opts='\(.*\)'$/\1/p" "$launcher") then OVERLAY_JAVA_OPTS='${OVERLAY_JAVA_OPTS-}'"
echo "startup-bench: CDS archive $OVERLAY_CDS_ARCHIVE ($([[ -r $OVERLAY_CDS_ARCHIVE ]] && echo present || echo absent))"
printf '%-4s %7s %7s %8s %8s %8s %8s %s\n' run env_ms ready_ms cpu_rdy cpu_idle rss_MiB threads smaps_rollup_MiB
envs=() readies=() cpus=() rsss=()
for r in $(seq "$runs"); do
  log=$work/agent-$r.log
  env_file=$work/subnet-$r.env
  extra=()
  if [[ $nmt == 1 && $r == "$runs" ]]; then
    extra=(env "OVERLAY_JAVA_OPTS=${OVERLAY_JAVA_OPTS-} -XX:NativeMemoryTracking=summary")
  elif [[ -n $classlist ]]; then
    extra=(env "OVERLAY_JAVA_OPTS=${OVERLAY_JAVA_OPTS-} -Xshare:off -XX:DumpLoadedClassList=$work/classlist"
      OVERLAY_CDS_ARCHIVE=/nonexistent)
  fi
  t0=$(ms_now)
  ip netns exec "$ns" "${extra[@]}" sh "$launcher" \
    --etcd-endpoints http://127.0.0.1:2379 --iface under0 --subnet-file "$env_file" >"$log" 2>&1 &
  agent=$!
  t_env= t_ready=
  for _ in $(seq 3000); do
    [[ -z $t_env && -f $env_file ]] && t_env=$(($(ms_now) - t0))
    if [[ -z $t_ready ]] && grep -qs 'Running: ' "$log"; then t_ready=$(($(ms_now) - t0)); fi
    [[ -n $t_env && -n $t_ready ]] && break
    kill -0 "$agent" 2>/dev/null || { echo "startup-bench: the agent exited:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.01
  done
  [[ -n $t_ready ]] || { echo "startup-bench: not ready after 30 s:" >&2; cat "$log" >&2; exit 1; }
  # ip netns exec execs the launcher script, which execs java: the pid is the JVM's
  cpu_ready=$(cpu_s "$agent")
  sleep "$idle"
  cpu_idle=$(cpu_s "$agent")
  rss=$(awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$agent/status")
  threads=$(ls "/proc/$agent/task" | wc -l)
  printf '%-4s %7s %7s %8s %8s %8s %8s %s\n' "$r" "$t_env" "$t_ready" "$cpu_ready" "$cpu_idle" "$rss" "$threads" \
    "$(rollup "$agent")"
  if [[ $nmt == 1 && $r == "$runs" ]]; then
    echo "--- jcmd $agent VM.native_memory summary"
    jcmd "$agent" VM.native_memory summary | grep -E '^ *(Total|-)' | sed 's/^ *- */  /; s/^ *Total/  Total/'
    echo "--- threads (CPU-seconds)"
    for t in /proc/"$agent"/task/*; do
      # fields after "(comm) ": state is $1, so utime and stime are $12 and $13
      sed 's/.*) //' "$t/stat" | awk -v hz="$(getconf CLK_TCK)" -v name="$(cat "$t/comm")" \
        '{printf "%6.2f %s\n", ($12+$13)/hz, name}'

    done | sort -rn
  fi
  kill -TERM "$agent"
  wait "$agent" 2>/dev/null || true
  agent=
  # forget this host's lease, so the next run allocates as a first start does
  ctl get --prefix /coreos.com/network/subnets/ --keys-only | grep -v '100.64.200.0-24' | grep . \
    | while read -r k; do ctl del "$k" >/dev/null; done
  envs+=("$t_env") readies+=("$t_ready") cpus+=("$cpu_ready") rsss+=("$rss")
done
if [[ -n $classlist ]]; then
  # Left out: classes generated at run time under names of the run (dynamic proxies, JFR event handlers), which a
  # later start never asks for by those names. picocli's class files are Java 5's; JDK 17 archives them too.
  { echo "# Classes one start of the overlay launcher loads (one peer, local etcd), for its CDS archive."
    echo "# Made by: benchmarks/startup-bench.sh --classlist <this file> (on $(java -version 2>&1 | head -1 | tr -d '"'))"
    grep -v '^#' "$work/classlist" | grep -Ev '\$Proxy[0-9]|^jdk/jfr/internal/handlers/'
  } >"$classlist"
  echo "startup-bench: wrote $(grep -vc '^#' "$classlist") lines to $classlist"
  exit 0
fi
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "median: env $(median "${envs[@]}") ms, ready $(median "${readies[@]}") ms, CPU at ready $(median "${cpus[@]}") s, RSS $(median "${rsss[@]}") MiB"
