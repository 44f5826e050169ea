#!/bin/sh
# Builds the images Brume's Docker tests use, with no registry: `docker import` of a root
# filesystem that holds Debian's statically linked busybox.
#
#   brume/busybox:1  busybox applets on PATH, CMD sh
#   brume/pause:1    the same root filesystem; CMD sleeps forever and exits 0 on SIGTERM
#                    (the pod sandbox that holds the shared network namespace)
#
# Idempotent and fast when both images exist. FORCE=1 rebuilds them. BUSYBOX=/path picks
# another static busybox binary.
set -eu

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if [ -z "${FORCE:-}" ] && have_image brume/busybox:1 && have_image brume/pause:1; then
    exit 0
fi

# A dynamically linked busybox would not run in an empty root filesystem.
is_static() { [ -x "$1" ] && LC_ALL=C ldd "$1" 2>&1 | grep -Eq 'not a dynamic executable|statically linked'; }

BUSYBOX=${BUSYBOX:-/bin/busybox}
if ! is_static "$BUSYBOX"; then
    BUSYBOX=/bin/busybox
    if ! is_static "$BUSYBOX"; then
        echo "installing Debian's busybox-static" >&2
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static >&2
    fi
fi
is_static "$BUSYBOX" || { echo "no static busybox at $BUSYBOX" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
ln -s bin "$root/sbin"
mkdir -p "$root/usr"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

tar -C "$root" -cf "$root.tar" .
trap 'rm -rf "$root" "$root.tar"' EXIT

docker import \
    --change 'ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin' \
    --change 'CMD ["sh"]' \
    "$root.tar" brume/busybox:1 >/dev/null
docker import \
    --change 'ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin' \
    --change 'CMD ["sh", "-c", "trap \"exit 0\" TERM; while :; do sleep 3600 & wait; done"]' \
    "$root.tar" brume/pause:1 >/dev/null
echo "built brume/busybox:1 and brume/pause:1" >&2
