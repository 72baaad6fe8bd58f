#!/bin/sh
# build.sh OUTDIR - assemble every bare-metal x86 test program into OUTDIR/NAME.elf.
#
# Each program is a single nasm source written for `nasm -f bin`: the ELF32 and Multiboot
# headers come from lib32.inc, so no linker is involved and the output is byte-for-byte
# reproducible. Extra nasm options (e.g. -DWITH_QEMU_GAPS) can be passed in NASMFLAGS.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
out=$1
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v nasm >/dev/null 2>&1; then
    echo "$0: nasm not found (Debian/Ubuntu: apt-get install nasm)" >&2
    exit 1
fi

PROGRAMS="hello prot paging32 pae long real fpu_sse alu strings"

mkdir -p "$out"
for p in $PROGRAMS; do
    # -w-unknown-warning: nasm 2.16's own alignb macro trips it.
    # shellcheck disable=SC2086
    nasm -f bin -w+error -w-unknown-warning ${NASMFLAGS:-} -I "$here/" \
        -o "$out/$p.elf.tmp" "$here/$p.asm" || {
        echo "$0: assembling $p.asm failed" >&2
        rm -f "$out/$p.elf.tmp"
        exit 1
    }
    mv "$out/$p.elf.tmp" "$out/$p.elf"
done
