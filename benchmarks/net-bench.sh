#!/usr/bin/env bash
# net-bench.sh - measure overlay's data plane (the Java UDP engine, flannel udp wire format) with the shared
# network benchmark, beside the kernel baselines and other userspace overlays.
#
#   sudo benchmarks/net-bench.sh                                  # underlay,vxlan,socat,overlay,overlay-enc (+nebula,tinc if installed)
#   sudo benchmarks/net-bench.sh --modes overlay,overlay-enc,nebula  # encryption's cost, beside nebula (AES-256-GCM too)
#   sudo benchmarks/net-bench.sh --modes underlay,vxlan,socat,overlay --rounds 1 --duration 5
#   sudo benchmarks/net-bench.sh --modes overlay --tun-setup harness --tun-mq   # 2 loops on a multi-queue TUN
#
# The harness is benchmarks/harness/overlay-bench.sh (or $OVERLAY_BENCH). Every argument except --variant (below)
# is passed to it unchanged (read benchmarks/harness/README.md); this script only adds mode "overlay" with --cmd, builds overlay-examples/target/overlay.jar when it
# is missing or older than the sources, and picks the default mode list when neither --modes nor MODES is given.
#
# Mode "overlay" runs io.overlay.examples.StaticPeersMain (static peer table, no etcd) in each namespace host:
# --tun-setup agent (default) creates and configures $TUN itself ($OVERLAY_IP/32, MTU, route $OVERLAY_NET);
# --tun-setup harness attaches to the harness' TUN. With --tun-mq it runs OVERLAY_MQ_LOOPS (default 2) event
# loops, one per TUN queue, with SO_REUSEPORT sockets.
#
# Environment: OVERLAY_BENCH (path of overlay-bench.sh, see above), JAVA (default java), OVERLAY_JAVA_OPTS
# (default: the launcher's JVM options, the java_opts line of packaging/deb/overlay.sh, and its CDS archive
# overlay.jsa beside the jar when there is one; plus --add-opens=java.base/com.sun.crypto.provider=ALL-UNNAMED, which
# overlay.jar's manifest gives to java -jar but not to -cp, for the allocation-free AES-GCM of mode overlay-enc),
# OVERLAY_MQ_LOOPS (default 2), OVERLAY_NO_BUILD=1 to never build,
# OVERLAY_JAR=path to run that overlay.jar as is (e.g. one built from a clean checkout of a given commit; implies no
# build).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
harness=${OVERLAY_BENCH:-$here/harness/overlay-bench.sh}
[[ -f $harness ]] || { echo "net-bench: harness not found at $harness (set OVERLAY_BENCH=/path/to/overlay-bench.sh)" >&2; exit 1; }
jar=${OVERLAY_JAR:-$repo/overlay-examples/target/overlay.jar}
[[ -n ${OVERLAY_JAR:-} ]] && OVERLAY_NO_BUILD=1

needs_build() {
  [[ -f $jar ]] || return 0
  local newer
  newer=$(find "$repo/pom.xml" "$repo/overlay-core/src/main" "$repo/overlay-core/pom.xml" \
    "$repo/overlay-tun/src/main" "$repo/overlay-tun/pom.xml" "$repo/overlay-udp/src/main" "$repo/overlay-udp/pom.xml" \
    "$repo/overlay-etcd/src/main" "$repo/overlay-etcd/pom.xml" \
    "$repo/overlay-examples/src/main" "$repo/overlay-examples/pom.xml" -newer "$jar" -type f 2>/dev/null | head -1)
  [[ -n $newer ]]
}
if [[ ${OVERLAY_NO_BUILD:-0} != 1 ]] && needs_build; then
  echo "net-bench: building $jar" >&2
  (cd "$repo" && mvn -B -q -pl overlay-examples -am package -DskipTests)
fi
[[ -f $jar ]] || { echo "net-bench: $jar is missing (build: mvn -pl overlay-examples -am package -DskipTests)" >&2; exit 1; }

java_bin=${JAVA:-java}
# The agent runs with the JVM options the installed launcher (/usr/bin/overlay) gives it, unless told otherwise.
launcher_opts=$(sed -n "s/^java_opts='\(.*\)'$/\1/p" "$repo/packaging/deb/overlay.sh")
[[ -n $launcher_opts ]] || { echo "net-bench: no java_opts line in packaging/deb/overlay.sh" >&2; exit 1; }
[[ -r ${jar%.jar}.jsa ]] && launcher_opts+=" -XX:SharedArchiveFile=${jar%.jar}.jsa -Xshare:auto"
# -cp does not read the jar's manifest (Add-Opens): the allocation-free AES-GCM needs it on the command line
launcher_opts+=" --add-opens=java.base/com.sun.crypto.provider=ALL-UNNAMED"
java_opts=${OVERLAY_JAVA_OPTS:-$launcher_opts}
echo "net-bench: JVM options: $java_opts" >&2
mq_loops=${OVERLAY_MQ_LOOPS:-2}
# Expanded by the harness per host (single quotes keep $TUN etc. for it); the jar path and options are fixed here.
overlay_cmd="exec $java_bin $java_opts -cp '$jar' io.overlay.examples.StaticPeersMain"
overlay_cmd+=' --tun "$TUN" --tun-setup "$TUN_SETUP" --loops "$( [ "$TUN_MQ" = 1 ] && echo '"$mq_loops"' || echo 1 )"'
overlay_cmd+=' --listen "$UNDERLAY_IP:$UDP_PORT" --network "$OVERLAY_NET" --subnet "$OVERLAY_CIDR"'
overlay_cmd+=' --address "$OVERLAY_IP" --mtu "$OVERLAY_MTU" --peers "$PEERS"'

# --variant NAME='WORDS' (this script's own option, repeatable) adds mode NAME: the overlay agent with WORDS changed.
# A word jar=PATH runs that overlay.jar (e.g. one built from an older commit, for a before/after of a code change)
# with the CDS archive beside it (PATH less .jar, plus .jsa, as mvn package makes it; a JDK 17 archive records its
# jar's path, so build the old jar where it stays), else without one (a slower start, unlike the launcher);
# a word starting with -D or -X is a JVM option (e.g. -Doverlay.udp.batch=1); any other word is an agent option
# (e.g. --offloads=false, --tun-txqueuelen=500). Example, batching before/after in one interleaved run:
#   benchmarks/net-bench.sh --modes overlay-plain,batch1 --variant batch1='--offloads=false -Doverlay.udp.batch=1'
variant_cmds=()
variant_names=()
args=()
while (($#)); do
  case $1 in
    --variant|--variant=*)
      if [[ $1 == --variant ]]; then
        (($# >= 2)) || { echo "net-bench: --variant needs NAME='WORDS'" >&2; exit 1; }
        spec=$2; shift 2
      else
        spec=${1#--variant=}; shift
      fi
      vname=${spec%%=*}
      [[ $spec == *=* && $vname =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] \
        || { echo "net-bench: --variant wants NAME='WORDS' with NAME of letters, digits, - and _, got '$spec'" >&2; exit 1; }
      case $vname in
        overlay|overlay-plain|overlay-enc|underlay|vxlan|socat|nebula|tinc)
          echo "net-bench: --variant name '$vname' is a built-in mode; pick another" >&2; exit 1 ;;
      esac
      vjar=$jar vjvm="" vagent=""
      read -r -a words <<<"${spec#*=}"   # split on blanks only: no glob expansion of e.g. -Xlog:gc*
      for w in "${words[@]}"; do
        case $w in
          jar=*) vjar=${w#jar=}; [[ -f $vjar ]] || { echo "net-bench: variant $vname: no jar at $vjar" >&2; exit 1; } ;;
          -D*|-X*) vjvm+=" $(printf %q "$w")" ;;
          *) vagent+=" $(printf %q "$w")" ;;   # StaticPeersMain takes the last of a repeated option
        esac
      done
      # another jar cannot map this jar's CDS archive (the JVM then runs without one): give it its own, if built
      if [[ $vjar != "$jar" && -r ${vjar%.jar}.jsa ]]; then
        vjvm=" -XX:SharedArchiveFile=$(printf %q "${vjar%.jar}.jsa")$vjvm"
      elif [[ $vjar != "$jar" ]]; then
        echo "net-bench: variant $vname: no ${vjar%.jar}.jsa beside its jar: it runs without a CDS archive" >&2
      fi
      vcmd="exec $java_bin $java_opts$vjvm -cp $(printf %q "$vjar") io.overlay.examples.StaticPeersMain"
      vcmd+="${overlay_cmd#*StaticPeersMain}$vagent"
      variant_names+=("$vname")
      variant_cmds+=(--cmd "$vname=$vcmd")
      echo "net-bench: --cmd $vname='$vcmd'" >&2
      ;;
    *) args+=("$1"); shift ;;
  esac
done
has_modes=0
for a in "${args[@]}"; do
  [[ $a == --modes || $a == --modes=* ]] && has_modes=1
done
if [[ $has_modes == 0 && -z ${MODES:-} ]]; then
  modes=underlay,vxlan,socat,overlay,overlay-enc
  command -v nebula >/dev/null 2>&1 && command -v nebula-cert >/dev/null 2>&1 && modes+=,nebula
  command -v tincd >/dev/null 2>&1 && modes+=,tinc
  for v in "${variant_names[@]}"; do modes+=,$v; done   # variants run too when no mode list is given
  args=(--modes "$modes" "${args[@]}")
fi

# Mode "overlay-plain": the same agent with --offloads=false (plain TUN, no TSO/GRO/coalescing), for before/after
# comparisons of the offload path in one interleaved run, e.g. --modes vxlan,overlay,overlay-plain.
overlay_plain_cmd="$overlay_cmd --offloads=false"

# Mode "overlay-enc": the same agent with --encryption=required (AES-256-GCM on every datagram; the TUN MTU is 29
# bytes below the harness' overlay MTU). There are no leases to carry the public keys, so every host derives its own
# and its peers' key pairs from one seed and each PublicIP (--static-key-seed; benchmarks only).
overlay_enc_cmd="$overlay_cmd --encryption=required --static-key-seed net-bench"

echo "net-bench: --cmd overlay='$overlay_cmd'" >&2
exec bash "$harness" --cmd "overlay=$overlay_cmd" --cmd "overlay-plain=$overlay_plain_cmd" \
  --cmd "overlay-enc=$overlay_enc_cmd" "${variant_cmds[@]}" "${args[@]}"
