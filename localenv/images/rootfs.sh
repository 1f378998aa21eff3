#!/bin/sh
# Makes the stand-in images' file systems on the host, from Debian's mirror through the host's own
# network path, so that no container ever needs to reach the network (image builds run with
# --network none). Run as root; called by localenv/standins.ts.
#
#   rootfs.sh base  OUT.tar SUITE MIRROR SETUP.sh
#       debootstrap --variant=minbase, then SETUP.sh inside it (chroot): the base image's rootfs.
#   rootfs.sh layer OUT.tar BASE_DIR PREINSTALL.sh PACKAGE...
#       apt-get install PACKAGE... over BASE_DIR (an overlay mount, so BASE_DIR is never written)
#       and OUT.tar = exactly the files that changed: one image layer, for a Dockerfile's ADD.
#
# Mounts (proc, dev, resolv.conf, the overlay) live in a private mount namespace (unshare -m), so
# they vanish with this script even when it is killed.
set -eu

mode="$1"
out="$2"
work="$(mktemp -d "$(dirname "$out")/.rootfs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# Only file capabilities: overlayfs keeps its own trusted.overlay.* attributes on the upper files.
TAR_OPTS="--numeric-owner --xattrs --xattrs-include=security.capability"

case "$mode" in
base)
	suite="$3" mirror="$4" setup="$5"
	root="$work/rootfs"
	debootstrap --variant=minbase "$suite" "$root" "$mirror"
	cp "$setup" "$root/tmp/setup.sh"
	unshare --mount sh -eu -c '
		root="$1"
		mount -t proc proc "$root/proc"
		chroot "$root" env MIRROR="$2" SUITE="$3" sh /tmp/setup.sh
	' rootfs-base "$root" "$mirror" "$suite"
	rm -f "$root/tmp/setup.sh"
	# Docker provides these at run time; the host's values must not be baked into the image.
	: >"$root/etc/resolv.conf"
	echo localhost >"$root/etc/hostname"
	: >"$root/etc/machine-id"
	find "$root/dev" -mindepth 1 -delete
	# shellcheck disable=SC2086
	tar $TAR_OPTS -C "$root" -cf "$work/out.tar" .
	;;
layer)
	base="$3" preinstall="$4"
	shift 4
	mkdir "$work/upper" "$work/work" "$work/merged"
	unshare --mount sh -eu -c '
		base="$1" w="$2" pre="$3"
		shift 3
		m="$w/merged"
		mount -t overlay overlay -o "lowerdir=$base,upperdir=$w/upper,workdir=$w/work" "$m"
		mount -t proc proc "$m/proc"
		mount --bind /dev "$m/dev"
		# The host resolver, read-only: apt needs it, the layer must not keep it.
		mount --bind /etc/resolv.conf "$m/etc/resolv.conf"
		mount -o remount,bind,ro "$m/etc/resolv.conf"
		cp "$pre" "$m/tmp/preinstall.sh"
		chroot "$m" env DEBIAN_FRONTEND=noninteractive LC_ALL=C sh -eu -c "
			sh /tmp/preinstall.sh
			apt-get update -qq
			apt-get install -y -qq --no-install-recommends $*
			apt-get clean
			rm -rf /var/lib/apt/lists/* /tmp/* /var/tmp/* /var/lib/dpkg/*-old /var/cache/debconf/*-old
			find /var/log -type f -exec truncate -s 0 {} +
		"
	' rootfs-layer "$base" "$work" "$preinstall" "$@"
	cd "$work/upper"
	# A character device 0/0 in an overlay upper directory is a "whiteout": a file deleted from
	# the lower layer (https://docs.kernel.org/filesystems/overlayfs.html). An image layer added
	# with ADD cannot delete, so these few files (if any) stay as the base had them.
	whiteouts="$(find . -type c | wc -l)"
	[ "$whiteouts" -eq 0 ] || echo "note: $whiteouts file(s) deleted by the install stay in the image" >&2
	# shellcheck disable=SC2086
	find . -mindepth 1 ! -type c -print0 | tar $TAR_OPTS --null --no-recursion -T - -cf "$work/out.tar"
	cd /
	;;
*)
	echo "usage: rootfs.sh base|layer ..." >&2
	exit 2
	;;
esac
mv "$work/out.tar" "$out"
