/* C floating-point workload compiled with -O2 for rv64imafdc_zicsr_zifencei_zba_zbb_zbs (lp64d):
 * series for pi/e/log 2/sin, Newton square roots vs fsqrt, float and double summation, Kahan
 * summation, conversions, fma/fmin/fmax builtins, dynamic rounding modes, an exact matrix
 * product, and a Mandelbrot picture. Reference values: gen/c_fpmath_ref.py. */
#include "lib.h"
#include "c_fpmath_ref.h"

static double fabs_(double x) { return x < 0 ? -x : x; }

/* |a - b| in units in the last place of b (both finite, same sign) */
static uint64_t ulps(double a, double b)
{
    int64_t x = (int64_t)dbits(a), y = (int64_t)dbits(b);
    return (uint64_t)(x > y ? x - y : y - x);
}

static double atan_inv(int n)                     /* atan(1/n) by its Taylor series */
{
    double x = 1.0 / n, x2 = x * x, term = x, sum = 0;
    for (int k = 0; k < 40; k++) {
        double t = term / (2 * k + 1);
        sum += (k & 1) ? -t : t;
        term *= x2;
    }
    return sum;
}

static double newton_sqrt(double a)
{
    double x = a > 1 ? a / 2 : 1;
    for (int i = 0; i < 60; i++)
        x = 0.5 * (x + a / x);
    return x;
}

static double my_sin(double x)
{
    double term = x, sum = x;
    for (int k = 1; k < 20; k++) {
        term *= -x * x / ((2 * k) * (2 * k + 1));
        sum += term;
    }
    return sum;
}

static inline void set_frm(unsigned rm) { __asm__ volatile("fsrm %0" : : "r"(rm) : "memory"); }
static inline unsigned get_fflags(void)
{
    unsigned f;
    __asm__ volatile("frflags %0" : "=r"(f) : : "memory");
    return f;
}
static inline void clear_fflags(void) { __asm__ volatile("fsflags zero" : : : "memory"); }

volatile double v_one = 1.0, v_three = 3.0, v_ten = 10.0, v_tenth = 0.1, v_zero = 0.0;
volatile float vf_one = 1.0f, vf_three = 3.0f;

int main(void)
{
    t_group("sqrt");
    T_EQ(dbits(__builtin_sqrt(2.0 * v_one)), 0x3ff6a09e667f3bcdull);
    T_EQ(fbits(__builtin_sqrtf(2.0f * vf_one)), 0x3fb504f3u);
    for (int i = 1; i <= 50; i++) {
        double a = i * 1.37 * v_one;
        double n = newton_sqrt(a), h = __builtin_sqrt(a);
        T_TRUE(ulps(n, h) <= 1);
        T_TRUE(h * h - a < 1e-14 * a && a - h * h < 1e-14 * a);
    }
    t_printf("sqrt(2) = %.15f\n", __builtin_sqrt(2.0 * v_one));

    t_group("series");
    double pi = 16 * atan_inv(5) - 4 * atan_inv(239);
    T_TRUE(ulps(pi, 3.141592653589793) <= 2);
    double e = 0, term = 1;
    for (int k = 0; k < 25; k++) {
        e += term;
        term /= k + 1;
    }
    T_TRUE(ulps(e, 2.718281828459045) <= 2);
    double ln2 = 0, y = 1.0 / 3, y2 = y * y, p = y;      /* log 2 = 2 atanh(1/3) */
    for (int k = 0; k < 40; k++) {
        ln2 += p / (2 * k + 1);
        p *= y2;
    }
    ln2 *= 2;
    T_TRUE(ulps(ln2, 0.6931471805599453) <= 2);
    double s1 = my_sin(1.0 * v_one);
    T_TRUE(ulps(s1, 0.8414709848078965) <= 4);
    t_printf("pi %.12f e %.12f ln2 %.12f sin1 %.12f\n", pi, e, ln2, s1);
    t_printf("bits %016lx %016lx %016lx %016lx\n", dbits(pi), dbits(e), dbits(ln2), dbits(s1));

    t_group("summation");
    float hf = 0;
    double hd = 0;
    for (int n = 1; n <= 1000; n++) {
        hf += vf_one / (float)n;
        hd += v_one / n;
    }
    T_EQ(fbits(hf), HARMONIC_F32);
    T_EQ(dbits(hd), HARMONIC_F64);
    double naive = 0, sum = 0, comp = 0;
    for (int i = 0; i < 10000; i++) {
        naive += v_tenth;
        double yk = v_tenth - comp;
        double t = sum + yk;
        comp = (t - sum) - yk;
        sum = t;
    }
    T_EQ(dbits(naive), NAIVE_SUM);
    T_TRUE(fabs_(sum - 1000.0) <= 1e-12);
    t_printf("H1000 %.7f (float) %.15f (double); 10000 x 0.1 = %.12f naive, %.12f Kahan\n",
             (double)hf, hd, naive, sum);

    t_group("conversions");
    volatile double d1 = -2.75, d2 = 1e19, d3 = 9007199254740993.0, d4 = -0.5;
    T_EQ((int64_t)d1, -2);
    T_EQ((uint64_t)d2, 10000000000000000000ull);
    T_EQ((int32_t)d4, 0);
    T_EQ(dbits((double)(int64_t)9007199254740993ll * v_one), 0x4340000000000000ull);
    T_EQ(dbits(d3), 0x4340000000000000ull);
    volatile uint64_t um = 0xffffffffffffffffull;
    T_EQ(dbits((double)um), 0x43f0000000000000ull);
    T_EQ(fbits((float)um), 0x5f800000u);
    volatile int64_t im = -9007199254740993ll;
    T_EQ(fbits((float)im), IM_F32);
    volatile double dd = 0.1;
    T_EQ(fbits((float)dd), 0x3dcccccdu);
    T_EQ(dbits((double)(float)dd), 0x3fb99999a0000000ull);
    volatile float ff = 16777217.0f;
    T_EQ((int32_t)ff, 16777216);
    volatile uint32_t u32 = 4294967295u;
    T_EQ(fbits((float)u32), 0x4f800000u);
    T_EQ(dbits((double)u32), 0x41efffffffe00000ull);

    t_group("builtins");
    T_EQ(dbits(__builtin_fma(v_tenth, v_ten, -v_one)), 0x3c90000000000000ull);
    T_EQ(dbits(__builtin_fmin(-v_zero, v_zero)), 0x8000000000000000ull);
    T_EQ(dbits(__builtin_fmax(-v_zero, v_zero)), 0);
    double nan = v_zero / v_zero;
    T_EQ(dbits(__builtin_fmax(nan, v_one)), 0x3ff0000000000000ull);
    T_TRUE(__builtin_isnan(nan));
    T_TRUE(!(nan == nan));
    T_TRUE(__builtin_isinf(v_one / v_zero));
    T_EQ(dbits(__builtin_copysign(v_three, -v_zero)), 0xc008000000000000ull);
    T_EQ(dbits(__builtin_fabs(-v_three)), 0x4008000000000000ull);
    T_EQ(fbits(__builtin_fmaf(vf_one / vf_three, 3.0f, -vf_one)), FMAF_REF);

    t_group("rounding modes/flags");
    clear_fflags();
    set_frm(3);                                          /* RUP */
    volatile double up = v_one / v_three;
    set_frm(2);                                          /* RDN */
    volatile double dn = v_one / v_three;
    set_frm(1);                                          /* RTZ */
    volatile double tz = -v_one / v_three;
    set_frm(4);                                          /* RMM */
    volatile double mm = v_one / v_three;
    set_frm(0);
    T_EQ(dbits(up) - dbits(dn), 1);
    T_EQ(dbits(dn), 0x3fd5555555555555ull);
    T_EQ(dbits(tz), 0xbfd5555555555555ull);
    T_EQ(dbits(mm), 0x3fd5555555555555ull);
    T_EQ(get_fflags(), 1);                               /* NX */
    clear_fflags();
    volatile double big = 1e308;
    volatile double of = big * v_ten;
    T_TRUE(__builtin_isinf(of));
    T_EQ(get_fflags(), 5);                               /* OF | NX */
    clear_fflags();

    t_group("matrix");
    enum { M = 6 };
    double A[M][M], B[M][M], C[M][M];
    int64_t Ci[M][M];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) {
            A[i][j] = (double)((i * 7 + j * 3) % 11 - 5) * v_one;
            B[i][j] = (double)((i * 5 + j * 9) % 13 - 6) * v_one;
        }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) {
            double s = 0;
            int64_t si = 0;
            for (int k = 0; k < M; k++) {
                s += A[i][k] * B[k][j];
                si += (int64_t)A[i][k] * (int64_t)B[k][j];
            }
            C[i][j] = s;
            Ci[i][j] = si;
        }
    int exact = 1;
    int64_t trace = 0;
    for (int i = 0; i < M; i++) {
        trace += Ci[i][i];
        for (int j = 0; j < M; j++)
            if (C[i][j] != (double)Ci[i][j])
                exact = 0;
    }
    T_TRUE(exact);
    T_EQ(trace, MATRIX_TRACE);

    t_group("mandelbrot");
    char row[61];
    unsigned inside = 0;
    int symmetric = 1;
    static char pic[21][61];
    for (int r = 0; r < 21; r++) {
        double ci = (r - 10) * 0.1;
        for (int c = 0; c < 60; c++) {
            double cr = -2.1 + c * 0.045, zr = 0, zi = 0;
            int it = 0;
            while (it < 50 && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                it++;
            }
            row[c] = " .:-=+*#%@"[it >= 50 ? 9 : it % 9];
            inside += it >= 50;
        }
        row[60] = 0;
        memcpy(pic[r], row, sizeof row);
        t_printf("|%s|\n", row);
    }
    for (int r = 0; r < 10; r++)
        if (memcmp(pic[r], pic[20 - r], 60))
            symmetric = 0;
    T_TRUE(symmetric);
    T_TRUE(inside > 200 && inside < 400);
    t_printf("inside: %u\n", inside);

    t_done();
}
