/* Integer workload: a mix in the spirit of CoreMark (but not its code) -- linked-list sorting
 * and searching, a number-token state machine, table-driven CRC-32 and a small int matrix
 * product -- repeated ITERS times, every result folded into one checksum. */
#include "bench.h"

#ifndef ITERS
#define ITERS 1000
#endif

/* ---------------------------------------------------------------- linked list */

#define LIST_N 512

struct node {
    struct node *next;
    int32_t key;
    uint32_t val;
};

static struct node pool[LIST_N];

static struct node *list_build(uint64_t *seed)
{
    struct node *head = 0;
    for (int i = 0; i < LIST_N; i++) {
        uint64_t r = rnd_next(seed);
        pool[i].key = (int32_t)(r & 0xffff) - 0x8000;
        pool[i].val = (uint32_t)(r >> 32);
        pool[i].next = head;
        head = &pool[i];
    }
    return head;
}

/* bottom-up merge sort of a singly linked list by (key, val) */
static struct node *list_sort(struct node *head)
{
    for (int width = 1;; width *= 2) {
        struct node *p = head, *tail = 0;
        int merges = 0;
        head = 0;
        while (p) {
            merges++;
            struct node *q = p;
            int psize = 0;
            for (int i = 0; i < width && q; i++) {
                psize++;
                q = q->next;
            }
            int qsize = width;
            while (psize > 0 || (qsize > 0 && q)) {
                struct node *e;
                if (psize == 0) {
                    e = q; q = q->next; qsize--;
                } else if (qsize == 0 || !q) {
                    e = p; p = p->next; psize--;
                } else if (p->key < q->key || (p->key == q->key && p->val <= q->val)) {
                    e = p; p = p->next; psize--;
                } else {
                    e = q; q = q->next; qsize--;
                }
                if (tail)
                    tail->next = e;
                else
                    head = e;
                tail = e;
            }
            p = q;
        }
        tail->next = 0;
        if (merges <= 1)
            return head;
    }
}

static struct node *list_reverse(struct node *head)
{
    struct node *prev = 0;
    while (head) {
        struct node *n = head->next;
        head->next = prev;
        prev = head;
        head = n;
    }
    return prev;
}

static uint64_t list_work(uint64_t *seed)
{
    struct node *h = list_sort(list_build(seed));
    uint64_t sum = 0;
    int32_t prev = INT32_MIN;
    uint32_t bad = 0;
    for (struct node *n = h; n; n = n->next) {
        bad += n->key < prev;
        prev = n->key;
        sum = sum * 31 + n->val;
    }
    /* search some keys in the sorted list: position of the first key >= probe */
    for (int k = -0x8000; k < 0x8000; k += 0x0800) {
        uint32_t pos = 0;
        struct node *n = h;
        while (n && n->key < k) {
            n = n->next;
            pos++;
        }
        sum += (uint64_t)pos << (k & 31);
    }
    h = list_reverse(h);
    sum ^= (uint64_t)(uint32_t)h->key << 32;
    return sum + bad;
}

/* ---------------------------------------------------------------- state machine */

enum { S_START, S_SIGN, S_INT, S_ZERO, S_HEX, S_DOT, S_FRAC, S_EXP, S_EXPSIGN, S_EXPINT,
       S_WORD, S_BAD, S_COUNT };

#define TEXT_N 2048
static char text[TEXT_N + 1];

static void text_build(uint64_t *seed)
{
    static const char alphabet[] = "0123456789+-.eExabcfz";
    int i = 0;
    while (i < TEXT_N) {
        int len = 1 + (int)rnd_below(seed, 9);
        for (int j = 0; j < len && i < TEXT_N; j++)
            text[i++] = alphabet[rnd_below(seed, sizeof alphabet - 1)];
        if (i < TEXT_N)
            text[i++] = rnd_below(seed, 4) ? ',' : ' ';
    }
    text[TEXT_N] = 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static uint64_t scan_tokens(const char *s, uint32_t counts[S_COUNT])
{
    uint64_t value = 0, acc = 0;
    int state = S_START;
    for (;; s++) {
        char c = *s;
        if (c == ',' || c == ' ' || c == 0) {
            counts[state]++;
            if (state == S_INT || state == S_HEX || state == S_ZERO)
                acc += value;
            state = S_START;
            value = 0;
            if (c == 0)
                break;
            continue;
        }
        switch (state) {
        case S_START:
            if (c == '+' || c == '-') state = S_SIGN;
            else if (c == '0') state = S_ZERO;
            else if (is_digit(c)) { state = S_INT; value = (uint64_t)(c - '0'); }
            else if (c == '.') state = S_DOT;
            else state = S_WORD;
            break;
        case S_SIGN:
            if (is_digit(c)) { state = S_INT; value = (uint64_t)(c - '0'); }
            else if (c == '.') state = S_DOT;
            else state = S_BAD;
            break;
        case S_ZERO:
            if (c == 'x') state = S_HEX;
            else if (is_digit(c)) { state = S_INT; value = (uint64_t)(c - '0'); }
            else if (c == '.') state = S_DOT;
            else if (c == 'e' || c == 'E') state = S_EXP;
            else state = S_BAD;
            break;
        case S_INT:
            if (is_digit(c)) value = value * 10 + (uint64_t)(c - '0');
            else if (c == '.') state = S_DOT;
            else if (c == 'e' || c == 'E') state = S_EXP;
            else state = S_BAD;
            break;
        case S_HEX:
            if (is_hex(c)) value = (value << 4) | (uint64_t)(is_digit(c) ? c - '0' : (c | 32) - 'a' + 10);
            else state = S_BAD;
            break;
        case S_DOT:
        case S_FRAC:
            if (is_digit(c)) state = S_FRAC;
            else if (state == S_FRAC && (c == 'e' || c == 'E')) state = S_EXP;
            else state = S_BAD;
            break;
        case S_EXP:
            if (c == '+' || c == '-') state = S_EXPSIGN;
            else if (is_digit(c)) state = S_EXPINT;
            else state = S_BAD;
            break;
        case S_EXPSIGN:
        case S_EXPINT:
            state = is_digit(c) ? S_EXPINT : S_BAD;
            break;
        case S_WORD:
            if (is_digit(c)) state = S_BAD;
            break;
        default:
            break;
        }
    }
    return acc;
}

/* ---------------------------------------------------------------- CRC-32 */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
        crc_table[i] = c;
    }
}

static uint32_t crc32(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* bit-serial CRC-16/CCITT of a 16-bit value, as a check on small items */
static uint16_t crc16_u16(uint16_t crc, uint16_t v)
{
    for (int i = 15; i >= 0; i--) {
        uint16_t bit = (uint16_t)(((v >> i) & 1) ^ (crc >> 15));
        crc = (uint16_t)(crc << 1);
        if (bit)
            crc ^= 0x1021;
    }
    return crc;
}

/* ---------------------------------------------------------------- matrix */

#define MN 20
static int32_t ma[MN][MN], mb[MN][MN], mc[MN][MN];

static uint64_t matrix_work(uint64_t *seed)
{
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            uint64_t r = rnd_next(seed);
            ma[i][j] = (int16_t)r;
            mb[i][j] = (int16_t)(r >> 16);
        }
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            int32_t s = 0;
            for (int k = 0; k < MN; k++)
                s += ma[i][k] * mb[k][j];
            mc[i][j] = s;
        }
    uint64_t sum = 0;
    uint16_t c16 = 0xffff;
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            int32_t v = mc[i][j];
            sum += (uint64_t)__builtin_popcount((uint32_t)v) << (j & 15);
            sum += (uint64_t)(uint32_t)(v > 0 ? v >> 3 : -v) ^ (uint64_t)__builtin_clz((uint32_t)v | 1);
            if ((i ^ j) & 1)
                c16 = crc16_u16(c16, (uint16_t)(v >> 8));
        }
    return sum ^ ((uint64_t)c16 << 48);
}

/* ---------------------------------------------------------------- main */

int main(void)
{
    uint64_t seed = 0x243f6a8885a308d3ull;
    uint64_t sum = 0;
    uint32_t counts[S_COUNT] = {0};
    crc_init();
    put_str("int: list sort, token state machine, crc32, matrix\n");
    for (int it = 0; it < ITERS; it++) {
        sum = mix(sum, list_work(&seed));
        if ((it & 7) == 0)
            text_build(&seed);
        sum = mix(sum, scan_tokens(text, counts));
        sum = mix(sum, crc32((uint32_t)it, text, TEXT_N));
        sum = mix(sum, crc32((uint32_t)sum, pool, sizeof pool));
        sum = mix(sum, matrix_work(&seed));
    }
    for (int s = 0; s < S_COUNT; s++)
        sum = mix(sum, counts[s]);
    put_str("iterations: ");
    put_dec(ITERS);
    put_char('\n');
    put_kv("checksum", sum);
    return 0;
}
