#!/bin/sh
# overlay: runs the overlay launcher (/usr/share/overlay/overlay.jar) with the Java runtime on PATH.
# `overlay --help`, `overlay --version`, `overlay health`, or the agent itself with its options.
# exec keeps the process id, so under systemd the JVM is the service's main process (sd_notify, NotifyAccess=main).
#
# JVM options: the launcher's defaults below, then OVERLAY_JAVA_OPTS (split on blanks), whose options win, e.g.
# OVERLAY_JAVA_OPTS=-Xmx256m. The defaults keep the agent small (docs/performance.md, "Start-up and memory"):
# the serial collector (no collector threads, no G1 remembered sets; the packet path allocates nothing), a heap
# that starts at 8 MiB and grows as needed up to 128 MiB, sized after each full collection to keep 20-40 % of it
# free (the JVM's 40-70 % left a listing's peak committed: ~3 MiB more at 5,000 peers), freed malloc memory returned
# to the kernel every 5 s,
# no hsperfdata file (jcmd PID still works), and an exit on OutOfMemoryError so that systemd restarts the agent.
# The class data sharing archive (made from the jar at installation; cuts start-up by about a second) is used
# when it is there; a JVM that cannot use it (another Java build, another jar) starts without it, only slower.
# OVERLAY_JAR and OVERLAY_CDS_ARCHIVE point the launcher at another jar and archive (e.g. a build tree's),
# OVERLAY_NATIVE_DIR at another directory for the native libraries (below).
jar=${OVERLAY_JAR:-/usr/share/overlay/overlay.jar}
cds_archive=${OVERLAY_CDS_ARCHIVE:-/var/cache/overlay/overlay.jsa}
# overlay-java-opts (benchmarks/net-bench.sh reads this line)
java_opts='-XX:+UseSerialGC -Xms8m -Xmx128m -XX:MinHeapFreeRatio=20 -XX:MaxHeapFreeRatio=40 -XX:+UnlockExperimentalVMOptions -XX:TrimNativeHeapInterval=5000 -XX:-UsePerfData -XX:+ExitOnOutOfMemoryError'
# -XX:TrimNativeHeapInterval (JDK-8293114) came with JDK 22 and was backported to 17.0.9 and 21.0.1, first as an
# experimental option (hence the unlock, which is no error once it became a product option, JDK-8325496). A JVM
# without it (17 to 17.0.8, 18 to 20, 21 GA) refuses to start with an option it does not know, so it is left out for
# those (the version is read from the runtime's release file, no JVM started).
# A JVM refuses a MinHeapFreeRatio above the MaxHeapFreeRatio, so a minimum in OVERLAY_JAVA_OPTS (or -Xminf) drops
# both of the pair (e.g. -XX:MinHeapFreeRatio=50 against the maximum of 40), a maximum alone only the maximum (kept
# at 20, the minimum lets -XX:MaxHeapFreeRatio=30 work, which the JVM's default minimum of 40 would refuse).
case $OVERLAY_JAVA_OPTS in
  *MinHeapFreeRatio=* | *-Xminf*)
    java_opts="${java_opts%% -XX:MinHeapFreeRatio=*} ${java_opts#* -XX:MaxHeapFreeRatio=* }" ;;
  *MaxHeapFreeRatio=* | *-Xmaxf*)
    java_opts="${java_opts%% -XX:MaxHeapFreeRatio=*} ${java_opts#* -XX:MaxHeapFreeRatio=* }" ;;
esac
# Shell built-ins only, but for readlink: each process forked here is ~4 ms of the agent's start on a small VM.
java_bin=$(readlink -f "$(command -v java)")
java_home=${java_bin%/*/*}
java_version=
if [ -r "$java_home/release" ]; then
  while IFS= read -r line || [ -n "$line" ]; do # the last line may lack its newline
    case $line in
      JAVA_VERSION=\"*\") java_version=${line#JAVA_VERSION=\"}; java_version=${java_version%\"}; break ;;
    esac
  done <"$java_home/release"
fi
case $java_version in
  17 | 17[!.0-9]* | 17.0.[0-8] | 17.0.[0-8][!0-9]* | 18* | 19* | 20* | 21 | 21[!.0-9]* | 21.0.0*)
    java_opts="${java_opts%% -XX:+UnlockExperimentalVMOptions *} ${java_opts#* -XX:TrimNativeHeapInterval=* }" ;;
esac
# The archive's path goes to java as one argument, whatever it holds (blanks included).
use_cds=
if [ -r "$cds_archive" ]; then
  use_cds=yes
fi
# Netty's and JNA's native libraries are unpacked from the jar at every start, by default into java.io.tmpdir (JNA
# first tries ~/.cache/JNA/temp, which the unit's ProtectHome=read-only makes unwritable): on a host whose /tmp is
# mounted noexec they could not be loaded. postinst and the unit (CacheDirectory=) make a directory for them that only
# root can write (a library planted there would run as root); a user running `overlay --help` cannot write it and keeps
# the defaults.
native_dir=${OVERLAY_NATIVE_DIR:-/var/cache/overlay/native}
use_native=
if [ -d "$native_dir" ] && [ -w "$native_dir" ]; then
  use_native=yes
fi
# shellcheck disable=SC2086
exec java $java_opts ${use_cds:+"-XX:SharedArchiveFile=$cds_archive"} ${use_cds:+-Xshare:auto} \
  ${use_native:+"-Dio.netty.native.workdir=$native_dir"} ${use_native:+"-Djna.tmpdir=$native_dir"} $OVERLAY_JAVA_OPTS \
  -jar "$jar" "$@"
