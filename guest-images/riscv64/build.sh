#!/usr/bin/env bash
# Rebuilds petrel's bundled riscv64 guest from Debian packages only:
#   Image.gz           Linux 6.1 (linux-source-6.1, tinyconfig + kernel.fragment), gzip -9n
#   initramfs.cpio.gz  Debian trixie busybox-static (riscv64) + ./init + /sbin/petrel-run
#                      (../container-init/petrel-run.c: PID 1 for container runs, rdinit=)
#   fw_dynamic.bin     OpenSBI from Debian's opensbi package (generic platform)
# and SHA256SUMS. Reproducible: fixed build metadata, sorted archive, no timestamps.
# Usage: guest-images/riscv64/build.sh [--check]   (--check: rebuild and compare with SHA256SUMS)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${PETREL_GUEST_BUILD:-$HOME/.cache/petrel/guest-riscv64}
mkdir -p "$work"
check=0
[ "${1:-}" = --check ] && check=1

need=(linux-source-6.1 gcc-riscv64-linux-gnu binutils-riscv64-linux-gnu build-essential bc bison
      flex libelf-dev libssl-dev cpio xz-utils gzip kmod opensbi libc6-dev-riscv64-cross)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

export SOURCE_DATE_EPOCH=1700000000
export KBUILD_BUILD_TIMESTAMP="2023-11-14 22:13:20 UTC" KBUILD_BUILD_USER=petrel
export KBUILD_BUILD_HOST=petrel KBUILD_BUILD_VERSION=1

# --- busybox from Debian trixie, through a private apt configuration (host sources untouched)
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/etc"
: > "$apt_dir/status"
cat > "$apt_dir/etc/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
SRC
cat > "$apt_dir/etc/apt.conf" <<CONF
Dir::State "$apt_dir";
Dir::State::Lists "$apt_dir/lists";
Dir::State::status "$apt_dir/status";
Dir::Cache "$apt_dir";
Dir::Etc::SourceList "$apt_dir/etc/sources.list";
Dir::Etc::SourceParts "/nonexistent";
APT::Architectures { "amd64"; "riscv64"; };
CONF
export APT_CONFIG="$apt_dir/etc/apt.conf"
busybox_version=$(cat "$here/busybox.version")
if [ ! -f "$work/busybox-riscv64.deb" ]; then
  apt-get update -q
  (cd "$work" && apt-get download "busybox-static:riscv64=$busybox_version")
  mv "$work"/busybox-static_*_riscv64.deb "$work/busybox-riscv64.deb"
fi
unset APT_CONFIG
rm -rf "$work/busybox" && mkdir -p "$work/busybox"
dpkg-deb -x "$work/busybox-riscv64.deb" "$work/busybox"

# --- kernel
src="$work/linux"
if [ ! -d "$src" ]; then
  mkdir -p "$src"
  tar -xf /usr/src/linux-source-6.1.tar.xz -C "$src" --strip-components=1
fi
kmake() { make -C "$src" ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu- -j"$(nproc)" "$@"; }
kmake tinyconfig >/dev/null
(cd "$src" && ARCH=riscv scripts/kconfig/merge_config.sh -n -m .config "$here/kernel.fragment" >/dev/null)
kmake olddefconfig >/dev/null
# merge_config drops symbols whose dependencies are off without a word: insist on every one.
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  sym=${line%%=*}; val=${line#*=}
  if [ "$val" = n ]; then
    if grep -q "^$sym=" "$src/.config"; then echo "kernel config: $sym is set, wanted off" >&2; exit 1; fi
  elif ! grep -qx "$line" "$src/.config"; then
    echo "kernel config: $line did not survive (dependencies off?)" >&2; exit 1
  fi
done < "$here/kernel.fragment"
kmake Image

# --- petrel-run, the container init (static glibc; no paths or dates end up in the binary)
riscv64-linux-gnu-gcc -static -Os -s -Wall -Wextra -ffile-prefix-map="$here/.."=. \
  -o "$work/petrel-run" "$here/../container-init/petrel-run.c"

# --- initramfs (gen_init_cpio makes device nodes without root and sorts nothing itself: the
# list below is fixed, so the archive is the same on every build). It records regular files
# with their own mtime: stage ours with a fixed one (busybox keeps the .deb's).
cp "$here/init" "$work/init"
touch -d "@$SOURCE_DATE_EPOCH" "$work/init" "$work/petrel-run"
cat > "$work/initramfs.list" <<LIST
dir /bin 0755 0 0
dir /dev 0755 0 0
dir /etc 0755 0 0
dir /proc 0755 0 0
dir /root 0700 0 0
dir /run 0755 0 0
dir /sbin 0755 0 0
dir /sys 0755 0 0
dir /tmp 1777 0 0
nod /dev/console 0600 0 0 c 5 1
nod /dev/null 0666 0 0 c 1 3
file /bin/busybox $work/busybox/usr/bin/busybox 0755 0 0
slink /bin/sh busybox 0777 0 0
file /init $work/init 0755 0 0
file /sbin/petrel-run $work/petrel-run 0755 0 0
LIST
kmake -s usr/gen_init_cpio >/dev/null 2>&1 || gcc -O2 -o "$src/usr/gen_init_cpio" "$src/usr/gen_init_cpio.c"
"$src/usr/gen_init_cpio" -t "$SOURCE_DATE_EPOCH" "$work/initramfs.list" > "$work/initramfs.cpio"

out="$work/out"
mkdir -p "$out"
gzip -9n < "$src/arch/riscv/boot/Image" > "$out/Image.gz"
gzip -9n < "$work/initramfs.cpio" > "$out/initramfs.cpio.gz"
cp /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin "$out/fw_dynamic.bin"
(cd "$out" && sha256sum Image.gz initramfs.cpio.gz fw_dynamic.bin > SHA256SUMS)

if ((check)); then
  diff "$here/SHA256SUMS" "$out/SHA256SUMS" && echo "guest-images/riscv64: outputs reproduced"
else
  cp "$out"/Image.gz "$out"/initramfs.cpio.gz "$out"/fw_dynamic.bin "$out"/SHA256SUMS "$here/"
  echo "guest-images/riscv64: outputs written"
fi
