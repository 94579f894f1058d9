#!/bin/sh
# overlay: runs the overlay launcher (/usr/share/overlay/overlay.jar) with the Java runtime on PATH.
# `overlay --help`, `overlay --version`, `overlay health`, or the agent itself with its options.
# OVERLAY_JAVA_OPTS: extra JVM options (split on blanks), e.g. -Xmx256m.
# exec keeps the process id, so under systemd the JVM is the service's main process (sd_notify, NotifyAccess=main).
# shellcheck disable=SC2086
exec java $OVERLAY_JAVA_OPTS -jar /usr/share/overlay/overlay.jar "$@"
