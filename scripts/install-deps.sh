#!/bin/sh
# Installs everything ckptfs needs to build, test, fuzz and benchmark on a
# Debian machine, and the npm packages of the remote-store test servers
# (tests/remote/package-lock.json). Idempotent: what is present is left alone.
set -eu
cd "$(dirname "$0")/.."
pkgs="meson ninja-build pkg-config gcc clang libclang-rt-14-dev
  libfuse3-dev fuse3 libprotobuf-c-dev protobuf-c-compiler libsnappy-dev
  check libjansson-dev python3 python3-numpy python3-torch python3-protobuf attr
  bsdextrautils valgrind
  squashfs-tools squashfuse s3fs rclone
  libcurl4-openssl-dev curl openssl nginx-light"
# Node.js may come from elsewhere (NodeSource's nodejs bundles npm and
# conflicts with Debian's npm package): Debian's only when there is none.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	pkgs="$pkgs nodejs npm"
fi
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ -n "$missing" ]; then
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
		$missing >/dev/null
	case " $missing " in
	*" nginx-light "*)
		# the tests run their own nginx on free loopback ports; a system one
		# started by the package is not wanted
		if [ -d /run/systemd/system ]; then
			$SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
		elif [ -x /etc/init.d/nginx ]; then
			$SUDO /etc/init.d/nginx stop >/dev/null 2>&1 || true
			$SUDO update-rc.d nginx disable >/dev/null 2>&1 || true
		fi
		;;
	esac
fi
# s3rver and @aws-sdk/signature-v4 for tests/remote/sigv4-proxy.js
remote=tests/remote
if [ ! -f "$remote/node_modules/.package-lock.json" ] ||
	[ "$remote/package-lock.json" -nt "$remote/node_modules/.package-lock.json" ]; then
	npm ci --prefix "$remote" --no-audit --no-fund --loglevel=error >/dev/null
fi
