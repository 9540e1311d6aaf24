#!/bin/sh
# build-image.sh TARGET OUTPREFIX — builds OUTPREFIX.img (full disk image) and
# OUTPREFIX.root.squashfs (the root file system, for signed releases).
# Environment: see mkinstance.sh; FW_STORAGE = image size in bytes.
set -eu
target=$1
out=$(realpath -m "$2")
repo=$(cd "$(dirname "$0")/../.." && pwd)
gok=$repo/firmware/build/bin/gok
parent=$repo/firmware/build/gokrazy
storage=${FW_STORAGE:-1258299392}
if [ "${FW_SRC:-}" = head ]; then
	# build from the last commit, not the work tree (others may be mid-edit)
	head=$(git -C "$repo" rev-parse HEAD)
	if [ "$(cat "$repo/firmware/build/src/.commit" 2>/dev/null)" != "$head" ]; then
		rm -rf "$repo/firmware/build/src"
		mkdir -p "$repo/firmware/build/src"
		git -C "$repo" archive HEAD | tar -x -C "$repo/firmware/build/src"
		echo "$head" > "$repo/firmware/build/src/.commit"
	fi
	export FW_SRC_DIR="$repo/firmware/build/src"
fi
inst=$("$repo/firmware/scripts/mkinstance.sh" "$target" "$parent")
start=$(date +%s)
cd "$inst"
export GOARCH=arm64 GOFLAGS=-mod=mod
# gok logs a lot; keep it, show it on failure.
log="$out.build.log"
if ! "$gok" --parent_dir "$parent" -i "kordon-$target" overwrite \
	--full "$out.img.tmp" --target_storage_bytes "$storage" >"$log" 2>&1; then
	tail -40 "$log" >&2
	echo "build-image: gok overwrite --full failed (log: $log)" >&2
	exit 1
fi
if ! "$gok" --parent_dir "$parent" -i "kordon-$target" overwrite \
	--root "$out.root.squashfs.tmp" >>"$log" 2>&1; then
	tail -40 "$log" >&2
	echo "build-image: gok overwrite --root failed (log: $log)" >&2
	exit 1
fi
mv "$out.img.tmp" "$out.img"
mv "$out.root.squashfs.tmp" "$out.root.squashfs"
# the version baked into this root (/etc/kordon/version): a release must carry it
echo "${VERSION:-dev}" > "$out.root.squashfs.version"
used=$(du -k "$out.img" | cut -f1)
printf 'build-image: %s.img (%s MB apparent, %s MB used), root %s MB, version %s, %ss\n' \
	"$out" $((storage / 1048576)) $((used / 1024)) \
	$(( $(stat -c %s "$out.root.squashfs") / 1048576 )) "${VERSION:-dev}" $(( $(date +%s) - start ))
