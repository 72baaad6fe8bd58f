/* Floating-point workload: an n-body simulation and a dense matrix product in double, a
 * Mandelbrot escape-time grid and a Jacobi relaxation in float, and a few conversions,
 * divisions and square roots. Every result's bit pattern goes into the checksum, so petrel and
 * QEMU agree only if their IEEE arithmetic does. */
#include "bench.h"

#ifndef ROUNDS
#define ROUNDS 10
#endif

static uint64_t dbits(double d) { union { double d; uint64_t u; } x = { d }; return x.u; }
static uint32_t fbits(float f) { union { float f; uint32_t u; } x = { f }; return x.u; }
static float fmax_s(float a, float b) { float r; __asm__("fmax.s %0, %1, %2" : "=f"(r) : "f"(a), "f"(b)); return r; }

/* ---------------------------------------------------------------- n-body (double) */

#define NB 6
struct body { double x, y, z, vx, vy, vz, m; };

static struct body bodies[NB];

static void nbody_init(void)
{
    /* a heavy centre and five lighter bodies on roughly circular, slightly inclined orbits */
    bodies[0] = (struct body){ 0, 0, 0, 0, 0, 0, 1000.0 };
    for (int i = 1; i < NB; i++) {
        double r = 3.0 + 2.25 * i;
        double v = __builtin_sqrt(1000.0 / r);
        double incl = 0.01 * i;
        bodies[i] = (struct body){ r, 0.1 * i, incl * r, 0.05 * i, v, -incl * v, 0.5 + 0.75 * i };
    }
}

static double nbody_energy(void)
{
    double e = 0;
    for (int i = 0; i < NB; i++) {
        struct body *a = &bodies[i];
        e += 0.5 * a->m * (a->vx * a->vx + a->vy * a->vy + a->vz * a->vz);
        for (int j = i + 1; j < NB; j++) {
            struct body *b = &bodies[j];
            double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
            e -= a->m * b->m / __builtin_sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static void nbody_step(double dt)
{
    for (int i = 0; i < NB; i++) {
        struct body *a = &bodies[i];
        for (int j = i + 1; j < NB; j++) {
            struct body *b = &bodies[j];
            double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
            double d2 = dx * dx + dy * dy + dz * dz;
            double mag = dt / (d2 * __builtin_sqrt(d2));
            a->vx -= dx * b->m * mag; a->vy -= dy * b->m * mag; a->vz -= dz * b->m * mag;
            b->vx += dx * a->m * mag; b->vy += dy * a->m * mag; b->vz += dz * a->m * mag;
        }
    }
    for (int i = 0; i < NB; i++) {
        struct body *a = &bodies[i];
        a->x += dt * a->vx;
        a->y += dt * a->vy;
        a->z += dt * a->vz;
    }
}

/* ---------------------------------------------------------------- matrix product (double) */

#define MD 48
static double A[MD][MD], B[MD][MD], C[MD][MD];

static uint64_t dgemm_round(int round)
{
    for (int i = 0; i < MD; i++)
        for (int j = 0; j < MD; j++) {
            A[i][j] = (double)((i * 7 + j * 3 + round) % 17) / 8.0 - 1.0;
            B[i][j] = 1.0 / (double)(1 + i + (j ^ round));
            C[i][j] = 0;
        }
    for (int i = 0; i < MD; i++)
        for (int k = 0; k < MD; k++) {
            double a = A[i][k];
            for (int j = 0; j < MD; j++)
                C[i][j] += a * B[k][j];
        }
    uint64_t h = 0;
    double trace = 0;
    for (int i = 0; i < MD; i++) {
        trace += C[i][i];
        h = mix(h, dbits(C[i][(i * 5) % MD]));
    }
    return mix(h, dbits(trace));
}

/* ---------------------------------------------------------------- Mandelbrot (float) */

static uint64_t mandel(float cx0, float cy0, float step, int w, int h, int maxit)
{
    uint64_t total = 0, hist = 0;
    for (int py = 0; py < h; py++) {
        float cy = cy0 + step * (float)py;
        for (int px = 0; px < w; px++) {
            float cx = cx0 + step * (float)px;
            float x = 0, y = 0;
            int it = 0;
            while (it < maxit) {
                float x2 = x * x, y2 = y * y;
                if (x2 + y2 > 4.0f)
                    break;
                y = 2.0f * x * y + cy;
                x = x2 - y2 + cx;
                it++;
            }
            total += (uint64_t)it;
            hist = hist * 3 + (uint64_t)(it & 7);
        }
    }
    return total ^ (hist << 20);
}

/* ---------------------------------------------------------------- Jacobi (float) */

#define JN 40
static float grid[2][JN][JN];

static uint64_t jacobi(int sweeps, int round)
{
    for (int i = 0; i < JN; i++)
        for (int j = 0; j < JN; j++)
            grid[0][i][j] = grid[1][i][j] =
                (i == 0 || j == 0) ? 100.0f + (float)round : (i == JN - 1 || j == JN - 1) ? -25.0f : 0.0f;
    int cur = 0;
    float change = 0;
    for (int s = 0; s < sweeps; s++) {
        change = 0;
        for (int i = 1; i < JN - 1; i++)
            for (int j = 1; j < JN - 1; j++) {
                float v = 0.25f * (grid[cur][i - 1][j] + grid[cur][i + 1][j] +
                                   grid[cur][i][j - 1] + grid[cur][i][j + 1]);
                float d = v - grid[cur][i][j];
                change = fmax_s(change, __builtin_fabsf(d));
                grid[cur ^ 1][i][j] = v;
            }
        cur ^= 1;
    }
    uint64_t h = fbits(change);
    for (int i = 0; i < JN; i += 3)
        h = mix(h, fbits(grid[cur][i][JN / 2]));
    return h;
}

/* ---------------------------------------------------------------- odds and ends */

static uint64_t misc(int round)
{
    uint64_t h = 0;
    double d = 1.0 + round;
    float f = 3.0f;
    for (int i = 1; i <= 2000; i++) {
        d = d / 1.0000001 + __builtin_sqrt((double)i) * 1e-3;
        f = f * 0.999f + __builtin_sqrtf((float)i) / (float)(i + 1);
        int64_t q = (int64_t)(d * 1e6);
        int32_t r = (int32_t)(f * -1e4f);
        uint32_t u = (uint32_t)(d * 1e3);
        h += (uint64_t)q ^ (uint64_t)(uint32_t)r ^ ((uint64_t)u << 17);
        h += dbits((double)f) ^ fbits((float)d);
    }
    return mix(h, dbits(d));
}

int main(void)
{
    uint64_t sum = 0;
    put_str("fp: n-body and matrix product (double), Mandelbrot and Jacobi (float)\n");
    nbody_init();
    double e0 = nbody_energy();
    for (int round = 0; round < ROUNDS; round++) {
        for (int s = 0; s < 2000; s++)
            nbody_step(0.001);
        sum = mix(sum, dbits(nbody_energy()));
        sum = mix(sum, dgemm_round(round));
        sum = mix(sum, mandel(-2.0f + 0.01f * (float)round, -1.2f, 0.02f, 64, 48, 96));
        sum = mix(sum, jacobi(40, round));
        sum = mix(sum, misc(round));
    }
    double e1 = nbody_energy();
    for (int i = 0; i < NB; i++)
        sum = mix(sum, dbits(bodies[i].x) ^ dbits(bodies[i].vy));
    put_str("rounds: ");
    put_dec(ROUNDS);
    put_char('\n');
    put_kv("energy before (bits)", dbits(e0));
    put_kv("energy after (bits)", dbits(e1));
    put_kv("checksum", sum);
    return 0;
}
