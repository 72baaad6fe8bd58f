/* Memory-bound workload over 40 MiB (far larger than the host's L2 and than QEMU's softmmu TLB
 * reach): a random cyclic permutation of 2 Mi words (16 MiB) is built with Sattolo's shuffle
 * and then chased (dependent random loads), 8 MiB blocks are copied back and forth with 64-bit
 * loads/stores, a STREAM-like triad sweeps three 8 MiB arrays, and strided passes touch one
 * word per cache line. */
#include "bench.h"

#ifndef ROUNDS
#define ROUNDS 4
#endif

#define REGION (16ul << 20)
#define CHASE_N (REGION / sizeof(uint64_t))      /* 2 Mi entries */
#define CHASE_STEPS (CHASE_N / 2)                /* per round */
#define BLOCK (8ul << 20)
#define BLOCK_N (BLOCK / sizeof(uint64_t))

static void copy_words(uint64_t *restrict d, const uint64_t *restrict s, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t a = s[i], b = s[i + 1], c = s[i + 2], e = s[i + 3];
        uint64_t f = s[i + 4], g = s[i + 5], h = s[i + 6], k = s[i + 7];
        d[i] = a; d[i + 1] = b; d[i + 2] = c; d[i + 3] = e;
        d[i + 4] = f; d[i + 5] = g; d[i + 6] = h; d[i + 7] = k;
    }
}

static uint64_t sum_words(const uint64_t *s, size_t n)
{
    uint64_t a = 0, b = 0;
    for (size_t i = 0; i < n; i += 2) {
        a += s[i];
        b ^= s[i + 1];
    }
    return a ^ (b << 1);
}

int main(void)
{
    uint64_t *next = (uint64_t *)__heap_start;
    uint64_t *x = (uint64_t *)(__heap_start + REGION);   /* three BLOCKs after the chase table */
    uint64_t *y = x + BLOCK_N;
    uint64_t *z = y + BLOCK_N;
    uint64_t seed = 0x13198a2e03707344ull;
    uint64_t sum = 0;

    put_str("mem: pointer chase over 16 MiB, 8 MiB copies, triad, strided passes\n");

    /* Sattolo's algorithm: a random permutation that is a single cycle */
    for (uint64_t i = 0; i < CHASE_N; i++)
        next[i] = i;
    for (uint64_t i = CHASE_N - 1; i > 0; i--) {
        uint64_t j = rnd_below(&seed, i);
        uint64_t t = next[i];
        next[i] = next[j];
        next[j] = t;
    }
    for (uint64_t i = 0; i < BLOCK_N; i++) {
        x[i] = rnd_next(&seed);
        y[i] = i * 0x9e3779b97f4a7c15ull;
    }

    uint64_t p = 0;
    for (int round = 0; round < ROUNDS; round++) {
        /* dependent loads in a random order */
        uint64_t acc = 0;
        for (uint64_t s = 0; s < CHASE_STEPS; s++) {
            p = next[p];
            acc += p;
        }
        sum = mix(sum, acc);
        sum = mix(sum, p);

        /* block copies: x -> z, z -> y (y's old contents are lost), checked by sums */
        copy_words(z, x, BLOCK_N);
        copy_words(y, z, BLOCK_N);
        sum = mix(sum, sum_words(y, BLOCK_N));

        /* triad: x = y + k * z, then rotate the roles so data keeps changing */
        uint64_t k = 3 + 2 * (uint64_t)round;
        for (size_t i = 0; i < BLOCK_N; i++)
            x[i] = y[i] + k * z[i];
        sum = mix(sum, sum_words(x, BLOCK_N));

        /* strided passes, one word per 64-byte line: a read-only sweep of the chase table
         * and a read-modify-write of z */
        uint64_t strided = 0;
        for (size_t i = (size_t)round; i < CHASE_N; i += 8)
            strided += next[i] << (i & 7);
        for (size_t i = 0; i < BLOCK_N; i += 8)
            z[i] += x[i] >> 7;
        sum = mix(sum, strided);
        sum = mix(sum, sum_words(z, BLOCK_N));
    }
    put_str("rounds: ");
    put_dec(ROUNDS);
    put_char('\n');
    put_kv("checksum", sum);
    return 0;
}
