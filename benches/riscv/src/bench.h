/* Shared helpers for the petrel CPU benchmarks (bare metal on the RISC-V virt board). */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stddef.h>

void put_char(char c);
void put_str(const char *s);
void put_hex(uint64_t v);          /* 0x + 16 hex digits */
void put_dec(uint64_t v);
void put_kv(const char *key, uint64_t v); /* "key: 0x...\n" */
void bench_exit(int code) __attribute__((noreturn));
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

extern char __heap_start[];

/* A 64-bit mixing step for checksums (not a standard hash). */
static inline uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 29);
}

/* xorshift64* pseudo-random numbers */
static inline uint64_t rnd_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* uniform-ish in [0, n) without a division */
static inline uint64_t rnd_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rnd_next(s) * n) >> 64);
}

#endif
