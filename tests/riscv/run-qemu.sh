#!/bin/sh
# Runs one test program on QEMU, the oracle: ./run-qemu.sh NAME (from tests/riscv).
# Guest output goes to stdout; the exit status is the program's.
set -e
name=$1
QEMU=${QEMU:-qemu-system-riscv64}
TIMEOUT=${TIMEOUT:-20}
machine=virt
cpu=rv64
elf=bin/$name.elf
case $name in
  htif_*) machine=spike ;;       # riscv-tests style: tohost/fromhost, QEMU's spike board
  zicond)                        # QEMU 7.2 lacks Zicond: run the XVentanaCondOps twin (README)
    cpu=rv64,xventanacondops=true
    elf=bin/oracle/zicond_vt.elf ;;
esac
exec timeout "$TIMEOUT" "$QEMU" -machine $machine -cpu $cpu -smp 1 -m 128M -bios none \
  -display none -monitor none -serial stdio -nodefaults -no-reboot -kernel "$elf" </dev/null
