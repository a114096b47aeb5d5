#!/bin/sh
# Installs everything ckptfs needs to build, test, fuzz and benchmark on a
# Debian machine. Idempotent: packages already present are left alone.
set -eu
pkgs="meson ninja-build pkg-config gcc clang libclang-rt-14-dev
  libfuse3-dev fuse3 libprotobuf-c-dev protobuf-c-compiler libsnappy-dev
  check libjansson-dev python3 python3-numpy attr bsdextrautils valgrind
  squashfs-tools squashfuse"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
