/* C integer workload compiled with -O2 for rv64imafdc_zicsr_zifencei_zba_zbb_zbs: CRC-32,
 * PRNG, three sorting algorithms cross-checked, 128-bit arithmetic, bit-manipulation builtins
 * (Zbb), switch tables, recursion, string formatting. Reference constants are standard test
 * vectors or were computed independently (gen/c_sort_ref.py). */
#include "lib.h"
#include "c_sort_ref.h"

static uint32_t crc32(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t crc = 0xffffffffu;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
    }
    return ~crc;
}

static uint64_t rng_state;
static uint64_t xorshift64(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

#define N 1500
static int64_t a[N], b[N], c[N], tmp[N];

static void quicksort(int64_t *v, long lo, long hi)
{
    while (lo < hi) {
        int64_t pivot = v[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                int64_t t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (j - lo < hi - i) {
            quicksort(v, lo, j);
            lo = i;
        } else {
            quicksort(v, i, hi);
            hi = j;
        }
    }
}

static void mergesort(int64_t *v, int64_t *t, size_t n)
{
    if (n < 2)
        return;
    size_t m = n / 2;
    mergesort(v, t, m);
    mergesort(v + m, t, n - m);
    size_t i = 0, j = m, k = 0;
    while (i < m && j < n)
        t[k++] = v[i] <= v[j] ? v[i++] : v[j++];
    while (i < m)
        t[k++] = v[i++];
    while (j < n)
        t[k++] = v[j++];
    memcpy(v, t, n * sizeof *v);
}

static void sift(int64_t *v, size_t i, size_t n)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && v[l] > v[m])
            m = l;
        if (l + 1 < n && v[l + 1] > v[m])
            m = l + 1;
        if (m == i)
            return;
        int64_t t = v[i];
        v[i] = v[m];
        v[m] = t;
        i = m;
    }
}

static void heapsort(int64_t *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(v, i, n);
    for (size_t e = n; e-- > 1;) {
        int64_t t = v[0];
        v[0] = v[e];
        v[e] = t;
        sift(v, 0, e);
    }
}

static uint64_t gcd(uint64_t x, uint64_t y)
{
    while (y) {
        uint64_t t = x % y;
        x = y;
        y = t;
    }
    return x;
}

static uint64_t mulmod(uint64_t x, uint64_t y, uint64_t m)
{
    return (uint64_t)((unsigned __int128)x * y % m);
}

static uint64_t powmod(uint64_t base, uint64_t e, uint64_t m)
{
    uint64_t r = 1;
    base %= m;
    while (e) {
        if (e & 1)
            r = mulmod(r, base, m);
        base = mulmod(base, base, m);
        e >>= 1;
    }
    return r;
}

static int is_prime(uint64_t n)
{
    static const uint64_t bases[] = { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37 };
    if (n < 2)
        return 0;
    for (unsigned i = 0; i < sizeof bases / sizeof bases[0]; i++)
        if (n % bases[i] == 0)
            return n == bases[i];
    uint64_t d = n - 1;
    int s = 0;
    while (!(d & 1)) {
        d >>= 1;
        s++;
    }
    for (unsigned i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        uint64_t x = powmod(bases[i], d, n);
        if (x == 1 || x == n - 1)
            continue;
        int r;
        for (r = 1; r < s; r++) {
            x = mulmod(x, x, n);
            if (x == n - 1)
                break;
        }
        if (r == s)
            return 0;
    }
    return 1;
}

static const char *classify(int op)
{
    switch (op) {
    case 0: return "zero";
    case 1: return "one";
    case 2: return "two";
    case 3: return "three";
    case 4: return "four";
    case 5: return "five";
    case 6: return "six";
    case 7: return "seven";
    case 8: return "eight";
    default: return "many";
    }
}

static long ackermann(long m, long n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ackermann(m - 1, 1);
    return ackermann(m - 1, ackermann(m, n - 1));
}

int main(void)
{
    t_group("crc32");
    T_EQ(crc32("123456789", 9), 0xcbf43926);
    T_EQ(crc32("", 0), 0);
    T_EQ(crc32("The quick brown fox jumps over the lazy dog", 43), 0x414fa339);

    t_group("xorshift64");
    rng_state = 88172645463325252ull;
    uint64_t x = 0;
    for (int i = 0; i < 1000; i++)
        x = xorshift64();
    T_EQ(x, XORSHIFT_REF);

    t_group("sorting");
    rng_state = 0x123456789abcdefull;
    uint64_t sum = 0, xr = 0;
    for (int i = 0; i < N; i++) {
        a[i] = (int64_t)xorshift64() >> (i % 40);       /* mix of magnitudes and signs */
        if (i % 97 == 0)
            a[i] = a[i / 2];                            /* duplicates */
        b[i] = c[i] = a[i];
        sum += (uint64_t)a[i];
        xr ^= (uint64_t)a[i];
    }
    quicksort(a, 0, N - 1);
    mergesort(b, tmp, N);
    heapsort(c, N);
    int sorted = 1, same = 1;
    uint64_t sum2 = 0, xr2 = 0;
    for (int i = 0; i < N; i++) {
        if (i && a[i - 1] > a[i])
            sorted = 0;
        if (a[i] != b[i] || a[i] != c[i])
            same = 0;
        sum2 += (uint64_t)a[i];
        xr2 ^= (uint64_t)a[i];
    }
    T_TRUE(sorted);
    T_TRUE(same);
    T_EQ(sum2, sum);
    T_EQ(xr2, xr);
    T_EQ(crc32(a, sizeof a), SORTED_CRC);
    t_printf("sorted: min %ld max %ld median %ld\n", a[0], a[N - 1], a[N / 2]);

    t_group("int128/primes");
    T_EQ(gcd(1071, 462), 21);
    T_EQ(gcd(0xffffffffffffffc5ull, 0xffffffffffffffc5ull - 1), 1);
    T_EQ(mulmod(0xfffffffffffffffbull, 0xfffffffffffffffaull, 0xffffffffffffffc5ull), MULMOD_REF);
    T_EQ(powmod(2, 1000000, 1000000007), 235042059);
    T_TRUE(is_prime(0xffffffffffffffc5ull));            /* largest 64-bit prime */
    T_TRUE(!is_prime(0xffffffffffffffc3ull));
    T_TRUE(is_prime(1000000007));
    T_TRUE(!is_prime(3215031751ull));                   /* strong pseudoprime to 2,3,5,7 */
    unsigned primes = 0;
    for (uint64_t n = 1000000000000ull; n < 1000000000000ull + 2000; n++)
        primes += is_prime(n);
    T_EQ(primes, PRIMES_REF);
    __int128 big = (__int128)0x7fffffffffffffffll * -0x7fffffffffffffffll;
    T_EQ((uint64_t)(big >> 64), 0xc000000000000000ull);
    T_EQ((uint64_t)big, 0xffffffffffffffffull);

    t_group("bit builtins");
    uint64_t v = 0x00f0000000000100ull;
    T_EQ(__builtin_popcountll(v), 5);
    T_EQ(__builtin_clzll(v), 8);
    T_EQ(__builtin_ctzll(v), 8);
    T_EQ(__builtin_bswap64(0x0102030405060708ull), 0x0807060504030201ull);
    T_EQ(__builtin_bswap32(0x11223344u), 0x44332211u);
    T_EQ(__builtin_clz(1u), 31);
    T_EQ(__builtin_ctz(0x80000000u), 31);
    T_EQ(__builtin_popcount(0xffffffffu), 32);
    uint64_t r = 0;
    for (int i = 0; i < 64; i++) {
        uint64_t w = (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)) >> (i & 7);
        r += (uint64_t)__builtin_popcountll(w) + ((w << (i & 63)) | (w >> ((64 - i) & 63)));
        r ^= (uint64_t)(int64_t)(int8_t)w + (uint64_t)(uint16_t)(w >> 8);
        r += w > r ? w : r;
    }
    T_EQ(r, BITS_REF);

    t_group("switch/recursion/strings");
    char buf[128];
    size_t len = 0;
    for (int i = 0; i < 11; i++)
        len += (size_t)t_snprintf(buf + len, sizeof buf - len, "%s%s", i ? "," : "", classify(i));
    T_EQ(crc32(buf, len), SWITCH_CRC);
    t_printf("%s\n", buf);
    T_EQ(ackermann(2, 3), 9);
    T_EQ(ackermann(3, 3), 61);
    t_snprintf(buf, sizeof buf, "[%5d|%-5d|%05d|%x|%lX|%lu|%c|%s]", -42, 42, 42, 0xbeefu,
               0xfeedfacecafeul, 18446744073709551615ul, 'z', "str");
    t_printf("%s\n", buf);
    T_EQ(strcmp(buf, "[  -42|42   |00042|beef|FEEDFACECAFE|18446744073709551615|z|str]"), 0);

    t_done();
}
