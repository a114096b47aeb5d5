#!/bin/sh
# meson install step: put mount.fuse.ckptfs (argument 1) into the folder
# mount(8) searches for helpers (argument 2, -Dmount_helper_dir; util-linux
# looks in /sbin only), whatever the prefix. A user who may not write
# there (a non-root install into ~/.local) is told and the install goes
# on: only mount(8) and /etc/fstab need the helper, and they need root.
set -u
helper=$1
dir=$2
case $helper in
/*) ;;
*) helper="${MESON_BUILD_ROOT:-.}/$helper" ;;
esac
[ -n "$dir" ] || exit 0
dest="${DESTDIR:-}$dir"
if mkdir -p "$dest" 2>/dev/null && cp "$helper" "$dest/mount.fuse.ckptfs.tmp" 2>/dev/null &&
	chmod 0755 "$dest/mount.fuse.ckptfs.tmp" &&
	mv -f "$dest/mount.fuse.ckptfs.tmp" "$dest/mount.fuse.ckptfs"; then
	echo "Installing mount.fuse.ckptfs to $dest"
	exit 0
fi
rm -f "$dest/mount.fuse.ckptfs.tmp" 2>/dev/null
echo "ckptfs: cannot write $dest/mount.fuse.ckptfs: mount -t fuse.ckptfs and" \
	"/etc/fstab need it (install as root, or -Dmount_helper_dir=DIR)" >&2
# a packager's DESTDIR or root's own install must not end without it
if [ -n "${DESTDIR:-}" ] || [ "$(id -u)" -eq 0 ]; then
	exit 1
fi
exit 0
