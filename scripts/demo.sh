#!/bin/sh
# The README's demo: build, write a sample checkpoint with our own writer,
# mount it through a map that renames scopes, splits a variable into parts
# and re-types to bfloat16, look around, load a file with numpy, unmount;
# then a TF2 checkpoint's readable tree.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

work=$(mktemp -d)
mnt="$work/mnt"
npy="$work/npy"
mkdir "$mnt" "$npy"
cleanup() {
	for m in "$mnt" "$npy"; do
		mountpoint -q "$m" && fusermount3 -u "$m"
	done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

if [ -t 1 ]; then b='\033[1m' n='\033[0m'; else b='' n=''; fi
say() { printf "\n${b}\$ %s${n}\n" "$*"; }
run() { say "$*"; "$@"; }

build/tests/ckpt-gen scripts/demo/sample.json "$work/model.ckpt-1000"
ckptfs=build/fs/ckptfs
run $ckptfs --list "$work/model.ckpt-1000"
run $ckptfs --list --stats "$work/model.ckpt-1000"
run $ckptfs --show embed/table "$work/model.ckpt-1000"
# rename two scopes, keep the step and the vocabulary, split embed/table in
# 5 parts and re-type the dense layer to bfloat16 (scripts/demo/targets.json)
map="--map dense/=encoder/dense/ --map embed/=encoder/embed/ --map global_step=global_step
	--map vocab=vocab --targets scripts/demo/targets.json"
# shellcheck disable=SC2086
run $ckptfs --dry-run $map "$work/model.ckpt-1000"
# shellcheck disable=SC2086
run $ckptfs "$work/model.ckpt-1000" "$mnt" $map
run ls -lR "$mnt"
run getfattr -d "$mnt/encoder/embed/table/part_1"
run hexdump -C "$mnt/encoder/dense/kernel/@value"
run hexdump -C "$mnt/global_step"
run hexdump -C "$mnt/vocab"
run fusermount3 -u "$mnt"

run $ckptfs "$work/model.ckpt-1000" "$npy" -o format=npy
say "python3 -c 'import numpy; print(numpy.load(\"$npy/embed/table.npy\"))'"
/usr/bin/python3 -c "import numpy; a = numpy.load('$npy/embed/table.npy'); print(a.dtype, a.shape); print(a)"
run fusermount3 -u "$npy"

# a TF2 checkpoint (tf.train.Checkpoint of a Keras model and Adam): readable
build/tests/ckpt-gen scripts/demo/tf2.json "$work/tf2-1"
run $ckptfs "$work/tf2-1" "$mnt"
run ls -R "$mnt"
run head -c 300 "$mnt/@object_graph.json"
echo
run fusermount3 -u "$mnt"
echo
echo "demo done: nothing is left mounted."
