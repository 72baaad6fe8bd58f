/* See lib.h. Output goes through __putc (crt.S); exit through __exit. */
#include "lib.h"

extern void __putc(int c);
extern void __exit(long code) __attribute__((noreturn));

unsigned t_checks;
static unsigned group_num;
static const char *group_name;

void t_putc(int c) { __putc(c); }

void t_puts(const char *s)
{
    while (*s)
        __putc(*s++);
}

void t_exit(int code) { __exit(code); }

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    if (dp < sp) {
        while (n--)
            *dp++ = *sp++;
    } else {
        while (n--)
            dp[n] = sp[n];
    }
    return d;
}

void *memset(void *d, int c, size_t n)
{
    unsigned char *dp = d;
    while (n--)
        *dp++ = (unsigned char)c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

/* ---- formatting ---- */
struct out {
    char *buf;
    size_t size, len;
};

static void emit(struct out *o, char c)
{
    if (o->buf) {
        if (o->len + 1 < o->size)
            o->buf[o->len] = c;
    } else {
        __putc(c);
    }
    o->len++;
}

static void emit_num(struct out *o, uint64_t v, unsigned base, int upper, int neg, int width,
                     int zero, int left)
{
    char tmp[24];
    int n = 0;
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    int len = n + neg;
    if (!left && !zero)
        for (; len < width; len++)
            emit(o, ' ');
    if (neg)
        emit(o, '-');
    if (!left && zero)
        for (; len < width; len++)
            emit(o, '0');
    while (n)
        emit(o, tmp[--n]);
    if (left)
        for (; len < width; len++)
            emit(o, ' ');
}

/* fixed-point double: sign, integer part, `prec` decimals, round half away from zero */
static void emit_double(struct out *o, double d, int prec, int width)
{
    char tmp[48];
    int n = 0;
    if (d != d) {
        for (const char *s = "nan"; *s; s++)
            emit(o, *s);
        return;
    }
    int neg = d < 0 || (d == 0 && (dbits(d) >> 63));
    if (neg)
        d = -d;
    if (d > 1e18) {
        for (const char *s = neg ? "-big" : "big"; *s; s++)
            emit(o, *s);
        return;
    }
    uint64_t scale = 1;
    for (int i = 0; i < prec; i++)
        scale *= 10;
    uint64_t ip = (uint64_t)d;
    double frac = (d - (double)ip) * (double)scale + 0.5;
    uint64_t fp = (uint64_t)frac;
    if (fp >= scale) {
        fp -= scale;
        ip++;
    }
    for (int i = 0; i < prec; i++) {
        tmp[n++] = (char)('0' + fp % 10);
        fp /= 10;
    }
    if (prec)
        tmp[n++] = '.';
    do {
        tmp[n++] = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip);
    if (neg)
        tmp[n++] = '-';
    for (int len = n; len < width; len++)
        emit(o, ' ');
    while (n)
        emit(o, tmp[--n]);
}

static int format(struct out *o, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(o, *fmt);
            continue;
        }
        fmt++;
        int left = 0, zero = 0, width = 0, prec = -1, lng = 0;
        for (;; fmt++) {
            if (*fmt == '-')
                left = 1;
            else if (*fmt == '0')
                zero = 1;
            else
                break;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        if (*fmt == '.') {
            prec = 0;
            fmt++;
            while (*fmt >= '0' && *fmt <= '9')
                prec = prec * 10 + (*fmt++ - '0');
        }
        while (*fmt == 'l') {
            lng++;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
            emit_num(o, u, 10, 0, v < 0, width, zero, left);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            emit_num(o, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', 0, width, zero, left);
            break;
        }
        case 'p':
            emit(o, '0');
            emit(o, 'x');
            emit_num(o, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, 0, 0, 0, 0, 0);
            break;
        case 'c':
            emit(o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            int len = (int)strlen(s);
            if (!left)
                for (; len < width; len++)
                    emit(o, ' ');
            while (*s)
                emit(o, *s++);
            if (left)
                for (; len < width; len++)
                    emit(o, ' ');
            break;
        }
        case 'f':
            emit_double(o, va_arg(ap, double), prec < 0 ? 6 : prec, width);
            break;
        case '%':
            emit(o, '%');
            break;
        default:
            emit(o, '?');
            break;
        }
    }
    return (int)o->len;
}

int t_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = { buf, size, 0 };
    int n = format(&o, fmt, ap);
    if (size)
        buf[o.len < size ? o.len : size - 1] = 0;
    return n;
}

int t_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = t_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int t_printf(const char *fmt, ...)
{
    struct out o = { 0, 0, 0 };
    va_list ap;
    va_start(ap, fmt);
    int n = format(&o, fmt, ap);
    va_end(ap);
    return n;
}

static void group_end(void)
{
    if (group_name)
        t_printf("ok %u - %s (%u checks)\n", group_num, group_name, t_checks);
    group_name = 0;
}

void t_group(const char *name)
{
    group_end();
    group_num++;
    group_name = name;
    t_checks = 0;
}

void t_done(void)
{
    group_end();
    t_puts("PASS\n");
    __exit(0);
}

void t_fail(const char *file, int line, const char *what, uint64_t exp, uint64_t got)
{
    t_printf("FAIL %u - %s: check %u (%s:%d: %s): expected 0x%016lx got 0x%016lx\n", group_num,
             group_name ? group_name : "(no group)", t_checks, file, line, what, exp, got);
    __exit(group_num ? (group_num & 0xff ? group_num & 0xff : 0xff) : 0xff);
}

/* libm functions GCC 12 calls instead of expanding inline */
double fmin(double a, double b)
{
    double r;
    __asm__("fmin.d %0, %1, %2" : "=f"(r) : "f"(a), "f"(b));
    return r;
}

double fmax(double a, double b)
{
    double r;
    __asm__("fmax.d %0, %1, %2" : "=f"(r) : "f"(a), "f"(b));
    return r;
}
