#!/usr/bin/env bash
# Builds the Debian package overlay_<version>_amd64.deb from the launcher jar that `mvn package` made:
#   mvn -B -DskipTests package && packaging/deb/build-deb.sh [output directory, default target/deb]
# Needs dpkg-deb (dpkg), gzip and java (the jar prints its version and the --help text for the man page).
# Contents: /usr/share/overlay/overlay.jar and overlay.classlist (postinst makes the CDS archive from them),
# /usr/bin/overlay, /lib/systemd/system/overlay.service,
# /etc/default/overlay (conffile), man page, copyright and changelog. Prints the .deb's path on the last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/target/deb}
jar=$root/overlay-examples/target/overlay.jar
[ -f "$jar" ] || { echo "build-deb: $jar missing: run 'mvn -B -DskipTests package' first" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "build-deb: dpkg-deb missing: apt install dpkg" >&2; exit 1; }

# overlay --version prints "overlay 0.1.0-SNAPSHOT"; Debian sorts "~" before the release, so 0.1.0~SNAPSHOT.
upstream=$(java -jar "$jar" --version | sed -n 's/^overlay //p')
[ -n "$upstream" ] && [ "$upstream" != unknown ] || { echo "build-deb: no version in $jar" >&2; exit 1; }
version=${upstream//-/\~}
logged=$(sed -n '1s/^overlay (\([^)]*\)).*/\1/p' "$here/changelog")
if [ "$logged" != "$version" ]; then
  echo "build-deb: packaging/deb/changelog's latest entry is $logged, the jar is $version: add an entry" >&2
  exit 1
fi
# The jar carries Netty's epoll native code for x86-64 only, which the packet path needs.
arch=amd64
# Reproducible timestamps: the last commit's time (or the changelog's) for every file and the man page.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null \
  || date -d "$(sed -n 's/^ -- .*>  //p' "$here/changelog" | head -1)" +%s)}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/overlay
doc=$pkg/usr/share/doc/overlay
install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/share/overlay" "$pkg/lib/systemd/system" \
  "$pkg/etc/default" "$doc" "$pkg/usr/share/man/man1"
install -m 0644 "$jar" "$pkg/usr/share/overlay/overlay.jar"
install -m 0644 "$root/overlay-examples/src/main/cds/overlay.classlist" "$pkg/usr/share/overlay/overlay.classlist"
install -m 0755 "$here/overlay.sh" "$pkg/usr/bin/overlay"
install -m 0644 "$root/packaging/systemd/overlay.service" "$pkg/lib/systemd/system/overlay.service"
install -m 0644 "$here/default" "$pkg/etc/default/overlay"
install -m 0644 "$here/copyright" "$doc/copyright"
# A native package (no Debian revision): the changelog is changelog.gz, compressed without a timestamp.
gzip -9n <"$here/changelog" >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# The man page is the launcher's own --help, so it cannot drift from the options.
man_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
{
  printf '.TH OVERLAY 1 %s "overlay %s" "User Commands"\n' "$man_date" "$upstream"
  printf '.SH NAME\noverlay \\- flannel\\-compatible overlay network agent (udp backend)\n'
  printf '.SH SYNOPSIS\n.B overlay\n[\\fIoptions\\fR]\n.br\n.B overlay health\n[\\fB\\-\\-healthz\\-port\\fR \\fIport\\fR]\n'
  printf '.SH DESCRIPTION\n.nf\n'
  java -jar "$jar" --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/" -e 's/^$/.sp/'
  printf '.fi\n.SH "HEALTH SUBCOMMAND"\n.nf\n'
  java -jar "$jar" health --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/" -e 's/^$/.sp/'
  printf '.fi\n.SH FILES\n.TP\n.I /etc/default/overlay\nFLANNELD_* settings of the systemd service.\n'
  printf '.TP\n.I /lib/systemd/system/overlay.service\nThe service (Type=notify: started once subnet.env is written).\n'
  printf '.TP\n.I /run/flannel/subnet.env\nThe lease for Docker or CNI (default \\fB\\-\\-subnet\\-file\\fR).\n'
  printf '.TP\n.I /var/cache/overlay/overlay.jsa\nClass data sharing archive of the jar, made at installation.\n'
  printf '.TP\n.I /var/cache/overlay/native\nWhere the native libraries in the jar are unpacked at start (not /tmp).\n'
  printf '.SH ENVIRONMENT\n.TP\n.B OVERLAY_JAVA_OPTS\nExtra JVM options, split on blanks, after the defaults (they win).\n'
  printf '.TP\n.B OVERLAY_NATIVE_DIR\nWhere the native libraries are unpacked (default /var/cache/overlay/native).\n'
  printf '.TP\n.B NOTIFY_SOCKET\nSet by systemd: readiness, status and watchdog messages go there.\n'
} | gzip -9n >"$pkg/usr/share/man/man1/overlay.1.gz"
chmod 0644 "$pkg/usr/share/man/man1/overlay.1.gz"

echo /etc/default/overlay >"$pkg/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "$here/$script" "$pkg/DEBIAN/$script"
done
# a Java update (files under /usr/lib/jvm) makes postinst remake the CDS archive for the new Java build
echo "interest-noawait /usr/lib/jvm" >"$pkg/DEBIAN/triggers"
chmod 0644 "$pkg/DEBIAN/triggers"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
  >"$pkg/DEBIAN/md5sums"
size=$(du -k -s --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: overlay
Version: $version
Architecture: $arch
Maintainer: overlay developers <dev@overlay.invalid>
Installed-Size: $size
Depends: default-jre-headless (>= 2:1.17) | java17-runtime-headless
Recommends: nftables
Suggests: iptables, etcd-client
Section: net
Priority: optional
Description: flannel-compatible overlay network for containers (udp backend)
 overlay joins a host to a flannel network: it leases the host's subnet from
 etcd, opens a TUN device, writes /run/flannel/subnet.env for Docker or CNI
 and carries the containers' packets to the other hosts inside UDP datagrams,
 on the wire and in etcd as flanneld's udp backend does.
 .
 The package installs the agent as /usr/bin/overlay and the systemd service
 overlay.service (Type=notify), configured in /etc/default/overlay with
 flanneld's FLANNELD_* variables. The service is not enabled at installation.
CONTROL
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
deb=$out/overlay_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
