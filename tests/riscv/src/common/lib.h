/* Minimal freestanding support for the C test programs: UART output (through crt.S), a small
 * printf, mem* functions (GCC may emit calls to them) and check helpers. */
#ifndef PETREL_LIB_H
#define PETREL_LIB_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void t_putc(int c);
void t_puts(const char *s);                 /* no newline added */
int t_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int t_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int t_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void t_exit(int code) __attribute__((noreturn));

void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
double fmin(double a, double b);
double fmax(double a, double b);

/* Check groups: t_group("name") starts a group (printing the previous one's "ok" line);
 * T_CHECK(cond, exp, got) fails the program with the group number as exit status. */
void t_group(const char *name);
void t_done(void) __attribute__((noreturn));
void t_fail(const char *file, int line, const char *what, uint64_t exp, uint64_t got)
    __attribute__((noreturn));
#define T_EQ(got, exp)                                                                        \
    do {                                                                                      \
        uint64_t g_ = (uint64_t)(got), e_ = (uint64_t)(exp);                                  \
        t_checks++;                                                                           \
        if (g_ != e_) t_fail(__FILE__, __LINE__, #got, e_, g_);                               \
    } while (0)
#define T_TRUE(cond)                                                                          \
    do {                                                                                      \
        t_checks++;                                                                           \
        if (!(cond)) t_fail(__FILE__, __LINE__, #cond, 1, 0);                                 \
    } while (0)
extern unsigned t_checks;

static inline uint64_t dbits(double d) { union { double d; uint64_t u; } x = { .d = d }; return x.u; }
static inline uint32_t fbits(float f) { union { float f; uint32_t u; } x = { .f = f }; return x.u; }
static inline double bitsd(uint64_t u) { union { double d; uint64_t u; } x = { .u = u }; return x.d; }
static inline float bitsf(uint32_t u) { union { float f; uint32_t u; } x = { .u = u }; return x.f; }
#endif
