/* Byte-oriented integer workload: a small LZ77 compressor (hash table of 4-byte prefixes,
 * greedy matching) and its decompressor, run over generated text, with a round-trip check. */
#include "bench.h"

#ifndef ROUNDS
#define ROUNDS 8
#endif

#define IN_N (256u << 10)
#define HASH_BITS 14
#define MIN_MATCH 4
#define MAX_MATCH 258
#define WINDOW 65535u

static uint8_t in[IN_N];
static uint8_t out[IN_N + IN_N / 8 + 64];
static uint8_t back[IN_N];
static uint32_t head[1u << HASH_BITS];

static void make_text(uint64_t *seed, int round)
{
    static const char *const words[] = {
        "petrel", "emulator", "hart", "the", "of", "and", "instruction", "cache", "page",
        "table", "trap", "vector", "register", "memory", "store", "load", "branch", "a",
        "interrupt", "timer", "console", "device", "tree", "kernel", "user", "machine", "in",
    };
    const uint32_t nwords = sizeof words / sizeof words[0];
    uint32_t i = 0;
    while (i < IN_N) {
        uint64_t r = rnd_next(seed);
        const char *w = words[(r >> 8) % (nwords - (uint32_t)(round & 3))];
        while (*w && i < IN_N)
            in[i++] = (uint8_t)*w++;
        if (i < IN_N)
            in[i++] = (r & 15) == 0 ? '\n' : (r & 31) == 1 ? ',' : ' ';
        if ((r & 255) == 7) /* some incompressible noise */
            for (int k = 0; k < 12 && i < IN_N; k++)
                in[i++] = (uint8_t)rnd_next(seed);
    }
}

static inline uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4); /* unaligned load */
    return v;
}

static inline uint32_t hash4(uint32_t v) { return (v * 2654435761u) >> (32 - HASH_BITS); }

/* Format: a control byte with 8 flags (1 = match) then per item a literal byte or a match
 * encoded as length-MIN_MATCH (1 byte) and distance (2 bytes, little-endian). */
static uint32_t compress(const uint8_t *src, uint32_t n, uint8_t *dst)
{
    for (uint32_t i = 0; i < (1u << HASH_BITS); i++)
        head[i] = 0xffffffffu;
    uint32_t o = 0, i = 0;
    while (i < n) {
        uint32_t ctrl_at = o++;
        uint8_t ctrl = 0;
        for (int bit = 0; bit < 8 && i < n; bit++) {
            uint32_t len = 0, dist = 0;
            if (i + MIN_MATCH <= n) {
                uint32_t v = load32(src + i);
                uint32_t h = hash4(v);
                uint32_t cand = head[h];
                head[h] = i;
                if (cand != 0xffffffffu && i - cand <= WINDOW && load32(src + cand) == v) {
                    uint32_t max = n - i < MAX_MATCH ? n - i : MAX_MATCH;
                    len = MIN_MATCH;
                    while (len < max && src[cand + len] == src[i + len])
                        len++;
                    dist = i - cand;
                }
            }
            if (len) {
                ctrl |= (uint8_t)(1u << bit);
                dst[o++] = (uint8_t)(len - MIN_MATCH);
                dst[o++] = (uint8_t)dist;
                dst[o++] = (uint8_t)(dist >> 8);
                /* index a few positions inside the match */
                for (uint32_t k = 1; k < len && i + k + MIN_MATCH <= n; k += 3)
                    head[hash4(load32(src + i + k))] = i + k;
                i += len;
            } else {
                dst[o++] = src[i++];
            }
        }
        dst[ctrl_at] = ctrl;
    }
    return o;
}

static uint32_t decompress(const uint8_t *src, uint32_t n, uint8_t *dst)
{
    uint32_t i = 0, o = 0;
    while (i < n) {
        uint8_t ctrl = src[i++];
        for (int bit = 0; bit < 8 && i < n; bit++) {
            if (ctrl & (1u << bit)) {
                uint32_t len = src[i] + MIN_MATCH;
                uint32_t dist = src[i + 1] | ((uint32_t)src[i + 2] << 8);
                i += 3;
                const uint8_t *from = dst + o - dist;
                for (uint32_t k = 0; k < len; k++)
                    dst[o + k] = from[k];
                o += len;
            } else {
                dst[o++] = src[i++];
            }
        }
    }
    return o;
}

int main(void)
{
    uint64_t seed = 0xa4093822299f31d0ull;
    uint64_t sum = 0;
    int bad = 0;
    put_str("lz: LZ77 compress + decompress of 256 KiB of generated text\n");
    for (int round = 0; round < ROUNDS; round++) {
        make_text(&seed, round);
        uint32_t clen = compress(in, IN_N, out);
        uint32_t dlen = decompress(out, clen, back);
        uint64_t h = clen;
        for (uint32_t i = 0; i < clen; i += 8) {
            uint64_t v;
            __builtin_memcpy(&v, out + i, 8);
            h = mix(h, v);
        }
        for (uint32_t i = 0; i < IN_N; i++)
            bad |= in[i] != back[i];
        sum = mix(sum, h);
        sum = mix(sum, dlen);
        if (round == 0) {
            put_str("compressed 262144 -> ");
            put_dec(clen);
            put_char('\n');
        }
    }
    put_str("rounds: ");
    put_dec(ROUNDS);
    put_char('\n');
    put_kv("checksum", sum);
    if (bad) {
        put_str("round trip FAILED\n");
        return 1;
    }
    return 0;
}
