/* xp_gen.c: writes a synthetic unit-level experiment CSV for bench/xp_analyze.sh.
 * usage: build/bench_xp_gen ROWS SEED > file.csv
 * Columns: unit,variant,watch,conv,pre (two arms, 50/50; watch ~ 0.6 pre + noise + 0.02 in B;
 * conv a 0/1 rate of ~10%). Hand-formatted numbers (6 decimals) so generation is fast. */
#include "marquee.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *put_u(char *p, unsigned long long v)
{
    char t[24];
    int n = 0;
    do { t[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = t[--n];
    return p;
}

static char *put_f6(char *p, double x)
{
    if (x < 0) { *p++ = '-'; x = -x; }
    unsigned long long s = (unsigned long long)(x * 1e6 + 0.5);
    p = put_u(p, s / 1000000);
    *p++ = '.';
    unsigned long long f = s % 1000000;
    for (int d = 100000; d; d /= 10) { *p++ = (char)('0' + f / (unsigned long long)d); f %= (unsigned long long)d; }
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: %s ROWS SEED\n", argv[0]); return 2; }
    long long rows = atoll(argv[1]);
    mq_rng r;
    mq_rng_seed(&r, (uint64_t)atoll(argv[2]));
    static char buf[1 << 20];
    char *p = buf;
    p += sprintf(p, "unit,variant,watch,conv,pre\n");
    for (long long i = 0; i < rows; i++) {
        int b = (int)(mq_rng_next(&r) >> 63);
        double pre = 10 + 2 * mq_rng_normal(&r);
        double w = 0.6 * pre + mq_rng_normal(&r) + (b ? 0.02 : 0);
        int conv = mq_rng_uniform(&r) < (b ? 0.102 : 0.1);
        *p++ = 'u';
        p = put_u(p, (unsigned long long)i);
        *p++ = ',';
        *p++ = b ? 'B' : 'A';
        *p++ = ',';
        p = put_f6(p, w);
        *p++ = ',';
        *p++ = (char)('0' + conv);
        *p++ = ',';
        p = put_f6(p, pre);
        *p++ = '\n';
        if (p - buf > (1 << 20) - 256) { fwrite(buf, 1, (size_t)(p - buf), stdout); p = buf; }
    }
    fwrite(buf, 1, (size_t)(p - buf), stdout);
    return 0;
}
