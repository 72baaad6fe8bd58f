#!/bin/sh
# Builds the x86 benchmark programs as Multiboot ELF32 files: build.sh OUTDIR [ITER]
set -eu
out=$1
iter=${2:-2000000}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
for p in int mem sse; do
    nasm -f elf32 -w-zext-reloc -I"$here/" -DITER="$iter" -o "$out/$p.o" "$here/$p.asm"
    ld -m elf_i386 -Ttext=0x100000 -e _start -o "$out/$p.elf" "$out/$p.o"
done
