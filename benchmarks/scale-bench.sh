#!/usr/bin/env bash
# scale-bench.sh - overlay's control plane at scale: one agent against an etcd holding N peer leases.
#
#   sudo benchmarks/scale-bench.sh                         # --peers 1000,5000,16383
#   sudo benchmarks/scale-bench.sh --peers 5000 --runs 3   # medians are up to you: one row per run
#
# For each N it makes its own network namespaces (sb<pid>-infra with etcd on the underlay bridge 198.18.0.254/24,
# sb<pid>-h1 with the agent on 198.18.0.1) and its own etcd (data in /dev/shm when it exists, else the temporary
# directory), then:
#   1. pre-fills N peer leases in flannel's format (benchmarks/scale/LeaseWriter.java: /10 Network 100.64.0.0/10 at
#      SubnetLen 24, which holds 16,384 subnets; PublicIPs in 198.19.0.0/16, on no interface, so nothing is sent);
#   2. starts the agent (java with the launcher's JVM options -jar overlay.jar, as the Debian package's /usr/bin/overlay does) and
#      reads from its log (TZ=UTC, millisecond times): start -> ready, the listing's arrival -> all N routes in the
#      engine, the batch's apply time; CPU-seconds (/proc/PID/stat) and RSS (/proc/PID/status VmRSS) at ready and 2 s
#      later;
#   3. deletes --churn leases one every --interval-ms, then adds them back likewise, and takes each event's latency
#      from etcd acknowledging the write (the writer's clock) to the agent's "Subnet removed/added" log line (same
#      clock, ms resolution; etcd_p99 is the writes' own round trip); an event without its line counts as missed, and
#      the agent's peer count must be N again;
#   4. stops the agent (SIGSTOP) and restarts etcd (the agent's connection breaks), deletes --burst leases and gives
#      --burst others a new PublicIP, compacts etcd's history, resumes the agent (SIGCONT) and reports the time until
#      its log shows all those changes applied (its watch revision is compacted: a re-list) and checks its peer count;
#      then total CPU-seconds, RSS settled 12 s later and the peak RSS (VmHWM) then, which includes the start's
#      listing and the re-list. Settled is 12 s, not 6: the C2 compilations the re-list sets off take up to ~20 MiB
#      of compiler arenas, which the JVM keeps pooled for up to 5 s (its chunk pool cleaner) before it frees them to
#      malloc, and the launcher's trim returns them to the kernel only at its next 5 s tick.
# Each step is bounded in time; everything (processes, namespaces, temp dir) is removed on exit, also on failure or
# Ctrl-C. KEEP_LOGS=1 keeps the temp dir (agent and etcd logs, the writer's timestamps).
#
# Options: --peers LIST (comma-separated, each churn + 2 x burst..16383; default 1000,5000,16383), --runs R (default 1), --churn C
# (default 200), --interval-ms MS (default 10), --burst B (default 100), --markdown (also print the table as
# Markdown rows), --no-metrics (the agent without its health server, as the Debian package's default
# configuration runs it: no /metrics registry and no scrapes; the peer counts then come from the agent's log), --nmt
# (run the agent with Native Memory Tracking and print, 2 s after ready and once settled, NMT's committed sizes and
# the resident memory by mapping; needs the JDK's jcmd; NMT and jcmd's attach add a few MiB, so compare memory columns
# only with other --nmt runs). Environment: OVERLAY_JAR (run that jar as is),
# OVERLAY_NO_BUILD=1 (never build), JAVA (default
# java; the writer needs a JDK: it runs as a single-file program), OVERLAY_JAVA_OPTS (default: the
# launcher's JVM options, the java_opts line of packaging/deb/overlay.sh, and the jar's CDS archive if built).
# Needs root, etcd and etcdctl (etcd-server, etcd-client), iproute2, a JDK 17, Maven to build the jar.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
jar=${OVERLAY_JAR:-$repo/overlay-examples/target/overlay.jar}
[[ -n ${OVERLAY_JAR:-} ]] && OVERLAY_NO_BUILD=1
java_bin=${JAVA:-java}
# The agent runs with the JVM options the installed launcher (/usr/bin/overlay) gives it, unless told otherwise.
launcher_opts=$(sed -n "s/^java_opts='\(.*\)'$/\1/p" "$repo/packaging/deb/overlay.sh")
[[ -n $launcher_opts ]] || { echo "scale-bench: no java_opts line in packaging/deb/overlay.sh" >&2; exit 1; }
[[ -r ${jar%.jar}.jsa ]] && launcher_opts+=" -XX:SharedArchiveFile=${jar%.jar}.jsa -Xshare:auto"
java_opts=${OVERLAY_JAVA_OPTS:-$launcher_opts}

peers_list=1000,5000,16383 runs=1 churn=200 interval_ms=10 burst=100 markdown=0 nmt=0 metrics=1
die() { echo "scale-bench: $*" >&2; exit 1; }
while (($#)); do
  case $1 in
    --peers) peers_list=${2:?--peers needs a list}; shift 2 ;;
    --peers=*) peers_list=${1#*=}; shift ;;
    --runs) runs=${2:?}; shift 2 ;;
    --runs=*) runs=${1#*=}; shift ;;
    --churn) churn=${2:?}; shift 2 ;;
    --churn=*) churn=${1#*=}; shift ;;
    --interval-ms) interval_ms=${2:?}; shift 2 ;;
    --interval-ms=*) interval_ms=${1#*=}; shift ;;
    --burst) burst=${2:?}; shift 2 ;;
    --burst=*) burst=${1#*=}; shift ;;
    --markdown) markdown=1; shift ;;
    --nmt) nmt=1; shift ;;
    --no-metrics) metrics=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
IFS=, read -r -a peer_counts <<<"$peers_list"
healthz=(--healthz-ip 127.0.0.1 --healthz-port 8471)
((metrics)) || healthz=()
jcmd_bin=
if ((nmt)); then
  java_opts+=" -XX:NativeMemoryTracking=summary"
  # the jcmd of the JDK that runs the agent
  jcmd_bin=$(dirname "$(readlink -f "$(command -v "$java_bin")")")/jcmd
  [[ -x $jcmd_bin ]] || die "--nmt needs jcmd beside $java_bin (a JDK): $jcmd_bin not found"
fi
for n in "${peer_counts[@]}" "$runs" "$churn" "$interval_ms" "$burst"; do
  [[ $n =~ ^[0-9]+$ ]] || die "not a number: '$n'"
done
for n in "${peer_counts[@]}"; do
  ((n >= churn + 2 * burst && n <= 16383)) \
    || die "--peers $n: must be at least --churn + 2 x --burst ($((churn + 2 * burst))), at most 16383"
done
((EUID == 0)) || die "must run as root (it makes network namespaces)"
for c in etcd etcdctl ip "$java_bin"; do command -v "$c" >/dev/null || die "$c not found"; done

needs_build() {
  [[ -f $jar ]] || return 0
  local newer
  newer=$(find "$repo/pom.xml" "$repo"/overlay-{core,tun,udp,etcd,metrics,examples}/src/main \
    "$repo"/overlay-{core,tun,udp,etcd,metrics,examples}/pom.xml -newer "$jar" -type f 2>/dev/null | head -1)
  [[ -n $newer ]]
}
if [[ ${OVERLAY_NO_BUILD:-0} != 1 ]] && needs_build; then
  echo "scale-bench: building $jar" >&2
  (cd "$repo" && mvn -B -q -pl overlay-examples -am package -DskipTests)
fi
[[ -f $jar ]] || die "$jar is missing (build: mvn -pl overlay-examples -am package -DskipTests)"

tmp=$(mktemp -d /tmp/scale-bench.XXXXXX)
# etcd's data on tmpfs when there is one: its fsyncs then cost nothing, and the figures are the agent's, not the disk's
etcd_dir=$tmp/etcd
[[ -d /dev/shm && -w /dev/shm ]] && etcd_dir=$(mktemp -d /dev/shm/scale-bench-etcd.XXXXXX)
tag=sb$$
infra=$tag-infra host=$tag-h1
etcd_url=http://198.18.0.254:2379
agent_pid="" etcd_pid=""
clk_tck=$(getconf CLK_TCK)

stop_pid() { # stop_pid PID: SIGTERM (SIGCONT first, in case it is stopped), up to 10 s, then SIGKILL
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
teardown() { # everything of one N: agent, etcd, whatever else runs in our namespaces, the namespaces
  stop_pid "$agent_pid"; agent_pid=""
  stop_pid "$etcd_pid"; etcd_pid=""
  local ns pid
  for ns in "$host" "$infra"; do
    if ip netns list | grep -qw "^$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  rm -rf "${etcd_dir:?}"/*
}
cleanup() {
  local rc=$?
  teardown
  if [[ ${KEEP_LOGS:-0} == 1 || $rc != 0 ]]; then
    echo "scale-bench: logs kept in $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  [[ $etcd_dir == /dev/shm/* ]] && rm -rf "$etcd_dir"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_infra() { ip netns exec "$infra" "$@"; }
etcdctl_() { in_infra env ETCDCTL_API=3 timeout 30 etcdctl --endpoints "$etcd_url" "$@"; }
writer() { in_infra timeout 600 "$java_bin" -cp "$jar" "$here/scale/LeaseWriter.java" "$etcd_url" "$@"; }
now_ms() { echo $((($(date +%s%N) / 1000000) % 86400000)); }   # ms since 00:00 UTC, as the agent's log
# ms since 00:00 UTC of the first log line after line $2 of $1 matching the awk pattern $3; empty when none
log_ms() {
  awk -v from="$2" -v pat="$3" 'NR > from && $0 ~ pat {
    split(substr($1, 12, 12), t, ":"); printf "%d\n", (t[1] * 3600 + t[2] * 60 + t[3]) * 1000 + 0.5; exit }' "$1"
}
diff_ms() { local d=$(($2 - $1)); ((d < -43200000)) && d=$((d + 86400000)); echo "$d"; }
cpu_s() { awk -v hz="$clk_tck" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
rss_mib() { awk -v k="$2:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
# GET a path of the agent's health server from inside its namespace (bash's /dev/tcp: no curl needed)
agent_get() {
  ip netns exec "$host" timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/8471 && printf "GET %s HTTP/1.0\r\n\r\n" "$1" >&3 && cat <&3' _ "$1"
}
# The agent's peer count: overlay_peers from /metrics, or under --no-metrics (no health server) the route count its
# log last gave ("Routed the N peers listed at start", "... in one batch (N routes"), plus and minus the single
# "Subnet added/removed" lines after it
agent_peers() {
  if ((metrics)); then
    agent_get /metrics | awk '$1 == "overlay_peers" { printf "%d", $2 }'
  else
    awk '/ Routed the [0-9]+ peers listed at start/ { s = $0; sub(/.* Routed the /, "", s); n = s + 0 }
      / in one batch \([0-9]+ routes/ { s = $0; sub(/.* in one batch \(/, "", s); n = s + 0 }
      / Subnet added: / { n++ } / Subnet removed: / { n-- } END { printf "%d", n }' "$log"
  fi
}
# memory_breakdown PID TITLE: where the agent's resident memory is, to stderr: NMT's committed sizes (the agent runs
# with -XX:NativeMemoryTracking=summary under --nmt) and /proc/PID/smaps's Rss summed by kind of mapping
memory_breakdown() {
  echo "scale-bench: memory of the agent, $2" >&2
  local nmt_out
  nmt_out=$(ip netns exec "$host" timeout 30 "$jcmd_bin" "$1" VM.native_memory summary scale=KB 2>&1) \
    || { echo "scale-bench: jcmd failed: $nmt_out" >&2; return 0; }
  echo "$nmt_out" | awk '/^(-|Total)/ && /committed=/ { n = $0; sub(/^- */, "", n); sub(/ *\(.*/, "", n); sub(/:.*/, "", n); c = $0
        sub(/.*committed=/, "", c); printf "  nmt %-28s %7.1f MiB committed\n", n, c / 1024 }' >&2
  awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anon]" : $6); sub(/.*\//, "", name) }
       /^Rss:/ { rss[name] += $2 } END { for (k in rss) if (rss[k] >= 512) printf "  rss %-28s %7.1f MiB\n", k, rss[k] / 1024 }' \
    "/proc/$1/smaps" | sort -k3 -rn >&2
}
wait_for() { # wait_for SECONDS WHAT COMMAND...: polls every 20 ms; fails naming WHAT
  local deadline=$(($(date +%s) + $1)) what=$2; shift 2
  until "$@"; do
    [[ -z $agent_pid ]] || kill -0 "$agent_pid" 2>/dev/null || die "agent exited while waiting for $what (log $tmp)"
    (($(date +%s) < deadline)) || die "no $what within the time limit (logs in $tmp)"
    sleep 0.02
  done
}
start_etcd() {
  # not through in_infra: a function in the background would be a subshell, and $! its PID rather than etcd's
  ip netns exec "$infra" etcd --name sb --data-dir "$etcd_dir/data" --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster sb=http://127.0.0.1:2380 --max-txn-ops 2048 >>"$tmp/etcd.log" 2>&1 &
  etcd_pid=$!
  wait_for 30 "etcd health" etcdctl_ endpoint health
}
# percentile P (0..100) of the numbers in file $1 (nearest rank)
pct() { sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
  r = int(p / 100 * NR + 0.999999); if (r < 1) r = 1; printf "%.0f", v[r] }'; }

echo "scale-bench: $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs, $("$java_bin" -version 2>&1 | head -1)"
echo "scale-bench: jar $jar, OVERLAY_JAVA_OPTS='$java_opts'; churn $churn x ${interval_ms} ms, burst $burst;" \
  "$( ((metrics)) && echo "health server on, /metrics scraped for peer counts" || echo "no health server (--no-metrics)")"
header="peers  start->ready_s  listed->routed_ms  apply_ms  cpu_ready_s  rss_ready_MiB  rss_2s_MiB  threads  add_p50/p99_ms  del_p50/p99_ms  etcd_p99_ms  missed  converge_s  rss_peak_MiB  rss_end_MiB  cpu_total_s  load(1m)"
rows=()
for n in "${peer_counts[@]}"; do
  for run in $(seq "$runs"); do
    load=$(awk '{ print $1 }' /proc/loadavg)
    echo "scale-bench: N=$n run $run: load $(uptime | sed 's/.*load average/load average/')" >&2
    ip netns add "$infra"
    ip netns add "$host"
    in_infra ip link set lo up
    in_infra ip link add ul0 type bridge
    in_infra ip addr add 198.18.0.254/24 dev ul0
    in_infra ip link set ul0 up
    in_infra ip link add ul-h1 type veth peer name eth0 netns "$host"
    in_infra ip link set ul-h1 master ul0 up
    ip -n "$host" link set lo up
    ip -n "$host" addr add 198.18.0.1/24 dev eth0
    ip -n "$host" link set eth0 up
    start_etcd
    etcdctl_ put /coreos.com/network/config \
      '{"Network":"100.64.0.0/10","SubnetLen":24,"Backend":{"Type":"udp"}}' >/dev/null
    writer prefill "$n" >&2

    log=$tmp/agent-$n-$run.log
    rm -f "$tmp/subnet.env"
    t_spawn=$(now_ms)
    # shellcheck disable=SC2086 # OVERLAY_JAVA_OPTS is split on blanks, as /usr/bin/overlay does
    ip netns exec "$host" env TZ=UTC "$java_bin" $java_opts -jar "$jar" --etcd-endpoints "$etcd_url" \
      --iface eth0 --subnet-file "$tmp/subnet.env" "${healthz[@]}" >"$log" 2>&1 &
    agent_pid=$!
    wait_for 180 "ready (log line)" grep -q ' INFO Overlay - ready ' "$log"
    cpu_ready=$(cpu_s "$agent_pid") rss_ready=$(rss_mib "$agent_pid" VmRSS)
    [[ -f $tmp/subnet.env ]] || die "ready but no subnet.env"
    t_ready=$(log_ms "$log" 0 ' INFO Overlay - ready ')
    t_listed=$(log_ms "$log" 0 'Listed [0-9]+ leases')
    t_routed=$(log_ms "$log" 0 'Routed the [0-9]+ peers listed at start')
    apply_us=$(awk '/Peers: .* in one batch/ { sub(/.*applied in /, ""); print $1; exit }' "$log")
    routed_n=$(sed -n 's/.*Routed the \([0-9]*\) peers listed at start.*/\1/p' "$log" | head -1)
    [[ $routed_n == "$n" ]] || die "the agent routed ${routed_n:-?} peers at start, not $n (log $log)"
    sleep 2
    rss_2s=$(rss_mib "$agent_pid" VmRSS) threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$agent_pid/status")
    if ((nmt)); then memory_breakdown "$agent_pid" "N=$n run $run, 2 s after ready"; fi

    # 3. churn: deletions, then additions, one every interval_ms
    mark=$(wc -l <"$log")
    writer churn $((n - churn)) "$churn" "$interval_ms" >"$tmp/churn-$n-$run.txt"
    churn_logged() { (($(tail -n +$((mark + 1)) "$log" | grep -cE 'Subnet (added|removed): ') >= 2 * churn)); }
    wait_for 60 "every churn event in the log" churn_logged
    awk -v from="$mark" '
      FNR == NR { want[$1 " " $2] = $4; etcd = $4 - $3; print "etcd", (etcd > 0 ? etcd : 0); next }
      FNR > from && / Subnet (added|removed): / {
        split(substr($1, 12, 12), t, ":"); ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000
        kind = ($0 ~ / Subnet added: /) ? "add" : "del"; s = $0
        sub(/.* Subnet (added|removed): /, "", s); sub(/ .*/, "", s)
        k = kind " " s
        if ((k in want) && !(k in seen)) { seen[k] = 1; d = ms - want[k]; if (d < -43200000) d += 86400000
          print kind, (d > 0 ? d : 0) }
      }
      END { for (k in want) if (!(k in seen)) print "missed", k }' "$tmp/churn-$n-$run.txt" "$log" \
      >"$tmp/latency-$n-$run.txt"
    awk '$1 == "add" { print $2 }' "$tmp/latency-$n-$run.txt" >"$tmp/add.txt"
    awk '$1 == "del" { print $2 }' "$tmp/latency-$n-$run.txt" >"$tmp/del.txt"
    awk '$1 == "etcd" { print $2 }' "$tmp/latency-$n-$run.txt" >"$tmp/etcd.txt"
    missed=$(grep -c '^missed' "$tmp/latency-$n-$run.txt" || true)
    peers_now=$(agent_peers)
    [[ $peers_now == "$n" ]] || missed="$missed(peers $peers_now)"

    # 4. cut off: SIGSTOP, changes, compaction, etcd restarted; then SIGCONT and time the convergence
    # etcd restarts first: the stopped agent's connection is gone before the changes, so none of them can sit in its
    # socket buffer; its watch must resume from a compacted revision and re-list.
    kill -STOP "$agent_pid"
    stop_pid "$etcd_pid"
    start_etcd
    writer burst $((n - churn - 2 * burst)) "$burst" >"$tmp/burst-$n-$run.txt"
    writer compact >&2
    mark=$(wc -l <"$log")
    t_cont=$(now_ms)
    kill -CONT "$agent_pid"
    converged() {
      tail -n +$((mark + 1)) "$log" | awk -v b="$burst" '
        / Peers: [0-9]+ added, [0-9]+ changed, [0-9]+ removed/ { s = $0; sub(/.* Peers: /, "", s); split(s, f, " ")
          c += f[3]; r += f[5] }
        / Subnet changed: / { c++ } / Subnet removed: / { r++ }
        END { exit !(c >= b && r >= b) }'
    }
    wait_for 120 "convergence after the compaction" converged
    t_conv=$(tail -n +$((mark + 1)) "$log" | awk -v b="$burst" '
      / Peers: [0-9]+ added, [0-9]+ changed, [0-9]+ removed/ { s = $0; sub(/.* Peers: /, "", s); split(s, f, " ")
        c += f[3]; r += f[5] }
      / Subnet changed: / { c++ } / Subnet removed: / { r++ }
      c >= b && r >= b { split(substr($1, 12, 12), t, ":"); printf "%d\n", (t[1] * 3600 + t[2] * 60 + t[3]) * 1000 + 0.5
        exit }')
    peers_after=$(agent_peers)
    [[ $peers_after == $((n - burst)) ]] || missed="$missed(after compaction: peers $peers_after, want $((n - burst)))"
    cpu_total=$(cpu_s "$agent_pid")
    # settled: what the agent keeps between bursts, once the compiler arenas are pooled no more (5 s) and trimmed (5 s)
    sleep 12
    rss_end=$(rss_mib "$agent_pid" VmRSS) rss_peak=$(rss_mib "$agent_pid" VmHWM)
    if ((nmt)); then memory_breakdown "$agent_pid" "N=$n run $run, settled"; fi

    row=$(printf '%-6s %-15s %-18s %-9s %-12s %-14s %-11s %-8s %-15s %-15s %-12s %-7s %-11s %-13s %-12s %-12s %s' "$n" \
      "$(awk -v d="$(diff_ms "$t_spawn" "$t_ready")" 'BEGIN { printf "%.2f", d / 1000 }')" \
      "$(diff_ms "$t_listed" "$t_routed")" "$(awk -v u="${apply_us:-0}" 'BEGIN { printf "%.1f", u / 1000 }')" \
      "$cpu_ready" "$rss_ready" "$rss_2s" "$threads" "$(pct "$tmp/add.txt" 50)/$(pct "$tmp/add.txt" 99)" \
      "$(pct "$tmp/del.txt" 50)/$(pct "$tmp/del.txt" 99)" "$(pct "$tmp/etcd.txt" 99)" "$missed" \
      "$(awk -v d="$(diff_ms "$t_cont" "$t_conv")" 'BEGIN { printf "%.2f", d / 1000 }')" "$rss_peak" "$rss_end" "$cpu_total" \
      "$load")
    rows+=("$row")
    echo "$header" >&2
    echo "$row" >&2
    teardown
  done
done

echo
echo "$header"
printf '%s\n' "${rows[@]}"
if ((markdown)); then
  echo
  echo "| $(echo "$header" | sed 's/  */ | /g') |"
  echo "|$(echo "$header" | sed 's/[^ ][^ ]*/---/g; s/  */|/g')|"
  for r in "${rows[@]}"; do echo "| $(echo "$r" | sed 's/  */ | /g') |"; done
fi
