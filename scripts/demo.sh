#!/bin/sh
# The README's demo: build, make a sample checkpoint with our own writer,
# list it. (Mounting arrives with the FUSE driver.)
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
echo "ckptfs demo: the mount is not built yet; see README for what works today."
