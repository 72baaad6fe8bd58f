/* Console output and exit for the petrel CPU benchmarks. Compiled with
 * -fno-tree-loop-distribute-patterns so memset/memcpy do not call themselves. */
#include "bench.h"

#define UART_BASE 0x10000000ul
#define UART_THR 0
#define UART_LSR 5
#define LSR_THRE 0x20
#define FINISHER ((volatile uint32_t *)0x100000ul)

void put_char(char c)
{
    volatile uint8_t *uart = (volatile uint8_t *)UART_BASE;
    while (!(uart[UART_LSR] & LSR_THRE))
        ;
    uart[UART_THR] = (uint8_t)c;
}

void put_str(const char *s)
{
    while (*s)
        put_char(*s++);
}

void put_hex(uint64_t v)
{
    put_str("0x");
    for (int i = 60; i >= 0; i -= 4)
        put_char("0123456789abcdef"[(v >> i) & 15]);
}

void put_dec(uint64_t v)
{
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_str(&buf[i]);
}

void put_kv(const char *key, uint64_t v)
{
    put_str(key);
    put_str(": ");
    put_hex(v);
    put_char('\n');
}

void bench_exit(int code)
{
    /* SiFive test finisher: 0x5555 = pass, (code << 16) | 0x3333 = fail with code */
    *FINISHER = code == 0 ? 0x5555u : (((uint32_t)code << 16) | 0x3333u);
    for (;;)
        __asm__ volatile("wfi");
}

void bench_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    put_str("\nunexpected trap: mcause ");
    put_hex(cause);
    put_str(" mepc ");
    put_hex(epc);
    put_str(" mtval ");
    put_hex(tval);
    put_char('\n');
    bench_exit(3);
}

void *memset(void *d, int c, size_t n)
{
    uint8_t *p = d;
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *p = d;
    const uint8_t *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}
