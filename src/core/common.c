/* common.c: errors, logging, RNG, CRC-32C, clock, growable buffers, file mapping and atomic
 * file replacement. Everything here is reentrant; nothing keeps global mutable state (the
 * CRC table is computed once at compile-time-like init guarded by pthread_once). */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *mq_strerror(int code)
{
    switch (code) {
    case MQ_OK: return "ok";
    case MQ_EINVAL: return "invalid argument";
    case MQ_ENOMEM: return "out of memory";
    case MQ_EIO: return "input/output error";
    case MQ_EFORMAT: return "malformed input";
    case MQ_ECORRUPT: return "corrupt file";
    case MQ_ENOTFOUND: return "not found";
    case MQ_ERANGE: return "value out of range";
    case MQ_EUNSUP: return "not supported";
    case MQ_EBUSY: return "busy";
    case MQ_ENOSPC: return "no space left on device";
    default: return "unknown error";
    }
}

int mq__err_set(mq_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void mq__logf(const mq_log *log, const char *fmt, ...)
{
    if (!log || !log->fn) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log->fn(log->user, line);
}

/* ---- RNG: xoshiro256** (Blackman & Vigna 2018), seeded by splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void mq_rng_seed(mq_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}


uint64_t mq_rng_next(mq_rng *r) { return mq__rng_next(r); }   /* xoshiro256**: core.h */

double mq_rng_uniform(mq_rng *r) { return mq__rng_uniform(r); }

uint64_t mq_rng_below(mq_rng *r, uint64_t n)
{
    /* Lemire's nearly-divisionless method, with rejection for exact uniformity. */
    unsigned __int128 m = (unsigned __int128)mq_rng_next(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t thresh = -n % n;
        while (lo < thresh) {
            m = (unsigned __int128)mq_rng_next(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double mq_rng_normal(mq_rng *r)
{
    double u1 = 1.0 - mq_rng_uniform(r), u2 = mq_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- CRC-32C, slicing-by-1 table (Castagnoli polynomial 0x82F63B78, reflected) ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

#if defined(__x86_64__)
#include <nmmintrin.h>
/* The SSE4.2 crc32 instruction computes the same CRC-32C, 8 bytes at a time (~20x the table
 * loop): it matters for checksumming multi-GB model artifacts and snapshots on load. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) { c = _mm_crc32_u8((uint32_t)c, *p++); len--; }
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    while (len--) c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#endif

uint32_t mq_crc32c(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return crc32c_hw(crc, p, len);
#endif
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (len--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

double mq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- mq_buf ---- */

void mq_buf_init(mq_buf *b) { memset(b, 0, sizeof *b); }
void mq_buf_release(mq_buf *b) { free(b->p); memset(b, 0, sizeof *b); }
void mq_buf_reset(mq_buf *b) { b->len = 0; }

static bool buf_reserve(mq_buf *b, size_t extra)
{
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { b->oom = true; return false; }
    b->p = p;
    b->cap = cap;
    return true;
}

void mq_buf_put(mq_buf *b, const void *s, size_t n)
{
    if (!buf_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void mq_buf_puts(mq_buf *b, const char *s) { mq_buf_put(b, s, strlen(s)); }

void mq_buf_putc(mq_buf *b, char c)
{
    if (!buf_reserve(b, 1)) return;
    b->p[b->len++] = c;
}

void mq_buf_printf(mq_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) { mq_buf_put(b, small, (size_t)n); return; }
    if (!buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned min;
    if ((c & 0xe0) == 0xc0) { len = 2; min = 0x80; c &= 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; min = 0x800; c &= 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; min = 0x10000; c &= 0x07; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    return len;
}

bool mq__utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) { i++; continue; }
        int k = utf8_seq(p + i, n - i);
        if (!k) return false;
        i += (size_t)k;
    }
    return true;
}

void mq_buf_json_str(mq_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    mq_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\') run++;
        if (run > i) { mq_buf_put(b, p + i, run - i); i = run; continue; }
        unsigned c = p[i];
        if (c == '"' || c == '\\') { mq_buf_putc(b, '\\'); mq_buf_putc(b, (char)c); i++; }
        else if (c == '\n') { mq_buf_put(b, "\\n", 2); i++; }
        else if (c == '\t') { mq_buf_put(b, "\\t", 2); i++; }
        else if (c == '\r') { mq_buf_put(b, "\\r", 2); i++; }
        else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            mq_buf_put(b, e, 6);
            i++;
        } else {
            int k = utf8_seq(p + i, n - i);
            if (k) { mq_buf_put(b, p + i, (size_t)k); i += (size_t)k; }
            else { mq_buf_puts(b, "\xef\xbf\xbd"); i++; }
        }
    }
    mq_buf_putc(b, '"');
}

void mq__printable(const char *s, size_t n, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    if (!cap) return;
    for (size_t i = 0; i < n; i++) {
        if (o + 8 >= cap) {                     /* room for "..." and the NUL */
            if (cap >= 4) { memcpy(out + o, "...", 3); o += 3; }
            break;
        }
        unsigned c = p[i];
        if (c >= 0x20 && c < 0x7f) { out[o++] = (char)c; continue; }
        int k = c >= 0x80 ? utf8_seq(p + i, n - i) : 0;
        if (k && o + (size_t)k + 8 < cap) {
            memcpy(out + o, p + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k - 1;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        }
    }
    out[o < cap ? o : cap - 1] = 0;
}

void mq_buf_json_num(mq_buf *b, double x)
{
    if (!isfinite(x)) { mq_buf_puts(b, "null"); return; }
    /* Range first: casting a larger x to int64 is undefined behaviour. */
    if (fabs(x) < 1e15 && x == (double)(int64_t)x) { mq_buf_printf(b, "%lld", (long long)x); return; }
    char s[32];
    for (int prec = 6; prec <= 17; prec++) {   /* shortest form that round-trips */
        snprintf(s, sizeof s, "%.*g", prec, x);
        if (strtod(s, NULL) == x) break;
    }
    mq_buf_puts(b, s);
}

static int json_flush(FILE *f, mq_buf *b)
{
    int rc = b->oom ? MQ_ENOMEM : fwrite(b->p, 1, b->len, f) == b->len ? 0 : MQ_EIO;
    mq_buf_release(b);
    return rc;
}

int mq_json_write_str(FILE *f, const char *s)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_json_str(&b, s ? s : "", s ? strlen(s) : 0);
    return json_flush(f, &b);
}

int mq_json_write_num(FILE *f, double x)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_json_num(&b, x);
    return json_flush(f, &b);
}

const char *mq_buf_cstr(mq_buf *b)
{
    if (!buf_reserve(b, 0)) return "";
    b->p[b->len] = 0;
    return b->p;
}

/* ---- files ---- */

/* Opens path for reading and sizes it: *fd is -1 (and 0 returned) for an empty file; a missing
 * file is MQ_ENOTFOUND, a directory MQ_EINVAL. Shared by mq__file_map and mq__file_read. */
static int open_for_read(const char *path, int *fd_out, off_t *size, mq_err *err)
{
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mq__err_set(err, errno == ENOENT ? MQ_ENOTFOUND : MQ_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mq__err_set(err, MQ_EIO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return mq__err_set(err, MQ_EINVAL, "%s: is a directory, expected a file", path);
    }
    if (st.st_size == 0) { close(fd); return 0; }
    *fd_out = fd;
    *size = st.st_size;
    return 0;
}

int mq__file_map(const char *path, const void **data, size_t *len, mq_err *err)
{
    *data = NULL;
    *len = 0;
    int fd;
    off_t size = 0;
    int rc = open_for_read(path, &fd, &size, err);
    if (rc || fd < 0) return rc;
    void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return mq__err_set(err, MQ_EIO, "%s: mmap: %s", path, strerror(e));
    madvise(p, (size_t)size, MADV_SEQUENTIAL);
    *data = p;
    *len = (size_t)size;
    return 0;
}

int mq__file_read(const char *path, const void **data, size_t *len, mq_err *err)
{
    *data = NULL;
    *len = 0;
    int fd;
    off_t size = 0;
    int rc = open_for_read(path, &fd, &size, err);
    if (rc || fd < 0) return rc;
    size_t n = (size_t)size;
    /* anonymous pages (page aligned, released by mq__file_unmap like a mapping) */
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return mq__err_set(err, MQ_ENOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)p + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    int e = errno;
    close(fd);
    if (got != n) {
        munmap(p, n);
        /* the file shrank while being read: someone is replacing it in place */
        return mq__err_set(err, MQ_EIO, "%s: read %zu of %zu bytes (%s)", path, got, n,
                           got < n ? "the file changed while being read" : strerror(e));
    }
    mprotect(p, n, PROT_READ);
    *data = p;
    *len = n;
    return 0;
}

void mq__file_unmap(const void *data, size_t len)
{
    if (data && len) munmap((void *)data, len);
}

int mq__atomic_open(mq_atomic_file *a, const char *path, mq_err *err)
{
    memset(a, 0, sizeof *a);
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path ||
        snprintf(a->tmp, sizeof a->tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof a->tmp)
        return mq__err_set(err, MQ_EINVAL, "%s: path too long", path);
    int fd = mkstemp(a->tmp);
    if (fd < 0)   /* name the path the user gave, and the directory that must exist and be writable */
        return mq__err_set(err, MQ_EIO, "%s: cannot write (a temp file beside it failed: %s; does its directory exist and is it writable?)",
                           path, strerror(errno));
    fchmod(fd, 0644);
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        close(fd);
        unlink(a->tmp);
        return mq__err_set(err, MQ_EIO, "%s: %s", a->tmp, strerror(errno));
    }
    return 0;
}

int mq__atomic_commit(mq_atomic_file *a, mq_err *err)
{
    int bad = ferror(a->f);
    if (fflush(a->f) != 0) bad = 1;
    if (!bad && fsync(fileno(a->f)) != 0) bad = 1;
    int e = errno;
    if (fclose(a->f) != 0) bad = 1;
    a->f = NULL;
    if (bad) {
        unlink(a->tmp);
        return mq__err_set(err, MQ_EIO, "%s: write failed: %s", a->path, strerror(e ? e : EIO));
    }
    if (rename(a->tmp, a->path) != 0) {
        e = errno;
        unlink(a->tmp);
        return mq__err_set(err, MQ_EIO, "%s: rename: %s", a->path, strerror(e));
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", a->path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { fsync(dfd); close(dfd); }
    return 0;
}

void mq__atomic_abort(mq_atomic_file *a)
{
    if (a->f) { fclose(a->f); a->f = NULL; }
    if (a->tmp[0]) unlink(a->tmp);
}

int mq__write_file_atomic(const char *path, const void *data, size_t len, mq_err *err)
{
    mq_atomic_file a;
    int rc = mq__atomic_open(&a, path, err);
    if (rc) return rc;
    if (len && fwrite(data, 1, len, a.f) != len) {
        mq__atomic_abort(&a);
        return mq__err_set(err, MQ_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    return mq__atomic_commit(&a, err);
}

int mq_time_parse(const char *s, int64_t *out)
{
    struct tm tm = {0};
    const char *e = s ? strptime(s, "%Y-%m-%d", &tm) : NULL;
    if (!e) return MQ_EINVAL;
    if (*e == 'T' || *e == ' ') {
        e = strptime(e + 1, "%H:%M:%S", &tm);
        if (!e) return MQ_EINVAL;
        if (*e == 'Z') e++;
    }
    if (*e) return MQ_EINVAL;
    *out = (int64_t)timegm(&tm);
    return 0;
}
