/* petrel's bundled bare-metal demo: reads the device tree the machine passes in a1, prints
 * what it describes, draws a Mandelbrot set with double-precision arithmetic, and exits
 * through the SiFive test finisher. */
#include <stdint.h>

#define UART ((volatile uint8_t *)0x10000000)

static void putc_(char c) {
    while (!(UART[5] & 0x20)) {}
    UART[0] = (uint8_t)c;
}
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void putu(uint64_t v) {
    char b[24]; int n = 0;
    do { b[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) putc_(b[--n]);
}
static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int streq(const char *a, const char *b) {
    while (*a && *a == *b) { a++; b++; }
    return *a == *b;
}
static int starts(const char *a, const char *p) {
    while (*p) if (*a++ != *p++) return 0;
    return 1;
}

/* Walks the flattened device tree: prints the ISA string and the memory size. */
static int show_fdt(const uint8_t *fdt) {
    if (be32(fdt) != 0xd00dfeed) { puts_("no device tree\n"); return 1; }
    const uint8_t *st = fdt + be32(fdt + 8);
    const char *strs = (const char *)fdt + be32(fdt + 12);
    const char *node = "";
    for (const uint8_t *p = st;;) {
        uint32_t tok = be32(p); p += 4;
        if (tok == 1) {            /* FDT_BEGIN_NODE */
            node = (const char *)p;
            while (*p) p++;
            p = (const uint8_t *)(((uintptr_t)p + 4) & ~(uintptr_t)3);
        } else if (tok == 3) {     /* FDT_PROP */
            uint32_t len = be32(p), name = be32(p + 4);
            const uint8_t *val = p + 8;
            if (streq(strs + name, "riscv,isa")) { puts_("  isa:    "); puts_((const char *)val); putc_('\n'); }
            if (streq(strs + name, "reg") && starts(node, "memory@") && len == 16) {
                uint64_t size = (uint64_t)be32(val + 8) << 32 | be32(val + 12);
                puts_("  memory: "); putu(size >> 20); puts_(" MiB\n");
            }
            p = val + ((len + 3) & ~3u);
        } else if (tok == 2 || tok == 4) {
            continue;              /* FDT_END_NODE, FDT_NOP */
        } else {
            break;                 /* FDT_END */
        }
    }
    return 0;
}

static int mandelbrot(void) {
    static const char shade[] = " .:-=+*#%@";
    uint64_t total = 0;
    for (int y = 0; y < 24; y++) {
        for (int x = 0; x < 72; x++) {
            double cr = -2.2 + x * (3.2 / 72), ci = -1.2 + y * (2.4 / 24);
            double zr = 0, zi = 0;
            int i = 0;
            while (i < 200 && zr * zr + zi * zi < 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                i++;
            }
            total += (uint64_t)i;
            putc_(i == 200 ? '@' : shade[i % 9]);
        }
        putc_('\n');
    }
    puts_("  iterations: "); putu(total); putc_('\n');
    return total == 0;
}

int main(uint64_t hartid, const uint8_t *fdt) {
    puts_("petrel bare-metal demo on hart "); putu(hartid); putc_('\n');
    int bad = show_fdt(fdt);
    bad |= mandelbrot();
    puts_(bad ? "demo: FAILED\n" : "demo: done\n");
    return bad;
}
