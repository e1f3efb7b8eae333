/* core.h: internal helpers shared by every module (not part of the public API).
 *
 * - mq__err_set: fill an optional mq_err and return its code, so error paths read
 *   `return mq__err_set(err, MQ_EFORMAT, "%s:%ld: field 'rating': '%s' ...", ...)`.
 * - mq_buf: a growable byte buffer with printf, JSON string escaping and number formatting,
 *   used for JSON responses and CSV output (responses are written directly, never via cJSON).
 * - mq__file_map / mq__atomic_*: read-only mmap of a whole file; atomic replace of a file by
 *   temp file + fsync + rename (+ fsync of the directory).
 */
#ifndef MQ_CORE_H
#define MQ_CORE_H

#include "marquee.h"
#include <stdarg.h>
#include <string.h>

#define MQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MQ_MAX(a, b) ((a) > (b) ? (a) : (b))

int mq__err_set(mq_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends a printf-formatted line to log (no-op when log or log->fn is NULL). */
void mq__logf(const mq_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- versioned option structs (src/core/opts.c) ----
 * The end of field f of struct T: the smallest struct_size a caller whose layout ends at f
 * passes. */
#define MQ__OPTS_END(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))
/* Every versioned struct of include/ and the last field of its first released layout (the
 * smallest struct_size the library reads). Appending a field changes nothing here. */
#define MQ__V1_mq_train_opts MQ__OPTS_END(mq_train_opts, log)
#define MQ__V1_mq_filter MQ__OPTS_END(mq_filter, genre)
#define MQ__V1_mq_load_opts MQ__OPTS_END(mq_load_opts, private_copy)
#define MQ__V1_mq_split_opts MQ__OPTS_END(mq_split_opts, last_n)
#define MQ__V1_mq_synth_opts MQ__OPTS_END(mq_synth_opts, activity_sigma)
#define MQ__V1_mq_eval_opts MQ__OPTS_END(mq_eval_opts, log)
#define MQ__V1_mq_tune_opts MQ__OPTS_END(mq_tune_opts, log)
#define MQ__V1_mq_rank_eval_opts MQ__OPTS_END(mq_rank_eval_opts, order_feature)
#define MQ__V1_mq_rank_live MQ__OPTS_END(mq_rank_live, trending)
#define MQ__V1_mq_evlog_opts MQ__OPTS_END(mq_evlog_opts, log)
#define MQ__V1_mq_store_opts MQ__OPTS_END(mq_store_opts, log_id)
#define MQ__V1_mq_server_opts MQ__OPTS_END(mq_server_opts, explore_epsilon)
#define MQ__V1_mq_xp_collect_opts MQ__OPTS_END(mq_xp_collect_opts, finish_seconds)
#define MQ__V1_mq_artwork_export_opts MQ__OPTS_END(mq_artwork_export_opts, policy)
#define MQ__V1_mq_page_req MQ__OPTS_END(mq_page_req, row_prior)
#define MQ__V1_mq_ope_opts MQ__OPTS_END(mq_ope_opts, folds)
#define MQ__V1_mq_bandit_synth_opts MQ__OPTS_END(mq_bandit_synth_opts, policy_tau)
#define MQ__V1_mq_policy_opts MQ__OPTS_END(mq_policy_opts, seed)
#define MQ__V1_mq_art_policy MQ__OPTS_END(mq_art_policy, mc_draws)
#define MQ__V1_mq_sim_opts MQ__OPTS_END(mq_sim_opts, server)
#define MQ__V1_mq_xp_design_in MQ__OPTS_END(mq_xp_design_in, variance_reduction)
#define MQ__V1_mq_xp_analyze_opts MQ__OPTS_END(mq_xp_analyze_opts, threads)
#define MQ__V1_mq_xp_interact_opts MQ__OPTS_END(mq_xp_interact_opts, alpha)
#define MQ__V1_mq_abr_opts MQ__OPTS_END(mq_abr_opts, seed)
/* In an entry point taking `const T *in`: fills *o (a T of the full current layout) with T's
 * defaults (T_init) and reads the caller's struct over them (mq__opts_read). Returns 0 or
 * MQ_EINVAL, with err naming T and T_init:
 *     mq_train_opts ov; int orc = MQ__OPTS_GET(mq_train_opts, &ov, o, err); if (orc) return orc; */
#define MQ__OPTS_GET(T, o, in, err)                                                             \
    (T##_init((o), sizeof *(o)), mq__opts_read((o), sizeof *(o), (in), MQ__V1_##T, #T, (err)))
/* The body of an init function: zeroes o's size bytes (the caller's sizeof), copies the
 * defaults (a full struct of full bytes) over the part they share, sets struct_size = size. */
void mq__opts_fill(void *o, size_t size, const void *defaults, size_t full);
/* Reads a caller's options in (NULL: keep o's defaults) into o, which holds this library's
 * full layout (full bytes) already filled with the defaults: MQ_EINVAL naming `name` and its
 * init function when in->struct_size is 0 or outside [min_size, full]; else its first
 * struct_size bytes are copied and o->struct_size becomes full. */
int mq__opts_read(void *o, size_t full, const void *in, size_t min_size, const char *name,
                  mq_err *err);
/* Checks a caller's struct in place (for functions that fill a few fields of it, as a parse
 * does): the same refusals as mq__opts_read, nothing copied. in must not be NULL. */
int mq__opts_check(const void *in, size_t full, size_t min_size, const char *name, mq_err *err);
#define MQ__OPTS_CHECK(T, in, err) mq__opts_check((in), sizeof(T), MQ__V1_##T, #T, (err))
/* For options with outputs (mq_load_opts): copies o's fields back into the caller's in, only
 * as far as in->struct_size covers (in NULL: nothing). */
void mq__opts_write_back(void *in, const void *o);

/* ---- growable buffer ---- */
typedef struct mq_buf {
    char *p;
    size_t len, cap;
    bool oom;             /* set once an allocation failed; later appends are ignored */
} mq_buf;

void mq_buf_init(mq_buf *b);
void mq_buf_release(mq_buf *b);
void mq_buf_reset(mq_buf *b);                    /* len = 0, keeps memory */
void mq_buf_put(mq_buf *b, const void *s, size_t n);
void mq_buf_puts(mq_buf *b, const char *s);
void mq_buf_putc(mq_buf *b, char c);
void mq_buf_printf(mq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included, escaping control characters, '"', '\\'.
 * Invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON. */
void mq_buf_json_str(mq_buf *b, const char *s, size_t n);
/* Appends a JSON number: shortest round-trip form ("%.17g" trimmed); NaN/inf become null. */
void mq_buf_json_num(mq_buf *b, double x);
/* NUL-terminates (without counting it in len) and returns p; "" if empty. */
const char *mq_buf_cstr(mq_buf *b);

/* ---- files ---- */
/* Maps path read-only. *data is NULL and *len 0 for an empty file. */
int mq__file_map(const char *path, const void **data, size_t *len, mq_err *err);
/* Like mq__file_map, but a private copy read into anonymous pages: nothing done to the file
 * afterwards (overwritten in place, truncated) can change the data or fault (SIGBUS). Freed
 * with mq__file_unmap. */
int mq__file_read(const char *path, const void **data, size_t *len, mq_err *err);
void mq__file_unmap(const void *data, size_t len);

/* Atomic replace: open a temp file beside path, write, then commit (fsync, rename, fsync dir)
 * or abort (unlink). */
typedef struct mq_atomic_file {
    FILE *f;
    char path[4096];
    char tmp[4096];
} mq_atomic_file;
int mq__atomic_open(mq_atomic_file *a, const char *path, mq_err *err);
int mq__atomic_commit(mq_atomic_file *a, mq_err *err);
void mq__atomic_abort(mq_atomic_file *a);
/* Writes a whole buffer atomically. */
int mq__write_file_atomic(const char *path, const void *data, size_t len, mq_err *err);

/* Is s[0..n) valid UTF-8? */
bool mq__utf8_valid(const char *s, size_t n);
/* s[0..n) for an error message: printable ASCII and whole valid UTF-8 sequences as they are,
 * every other byte (control characters such as ESC, NUL, invalid UTF-8) as \xNN; cut with
 * "..." to fit cap (>= 4) bytes including the NUL. */
void mq__printable(const char *s, size_t n, char *out, size_t cap);

/* ---- CSV fields and decimal numbers (csv.c) ---- */
/* A field of a row: bytes [p, p+n); esc: a quoted CSV field holding "" escapes. */
typedef struct mq__field {
    const char *p;
    size_t n;
    bool esc;
} mq__field;

/* xoshiro256** (mq_rng_next, mq_rng_uniform: common.c calls these) inlined for hot loops that
 * keep the state in a local copy (bandit_artwork.c's decisions: one draw per title). */
static inline uint64_t mq__rng_next(mq_rng *r)
{
    uint64_t *s = r->s, x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

static inline double mq__rng_uniform(mq_rng *r) { return (double)(mq__rng_next(r) >> 11) * 0x1.0p-53; }

/* Scans one CSV field starting at p (the line ends at e): fills f (for a quoted field, the
 * bytes between the quotes) and returns where it ends: at the ',' after it, or e. NULL when a
 * quote is not closed or text follows the closing quote. */
static inline const char *mq__csv_field(const char *p, const char *e, mq__field *f)
{
    if (p < e && *p == '"') {
        const char *q = p + 1;
        bool esc = false;
        for (;;) {
            q = memchr(q, '"', (size_t)(e - q));
            if (!q) return NULL;
            if (q + 1 < e && q[1] == '"') { esc = true; q += 2; continue; }
            break;
        }
        *f = (mq__field){p + 1, (size_t)(q - p - 1), esc};
        q++;
        return q == e || *q == ',' ? q : NULL;
    }
    const char *q = p;   /* fields are short: a plain loop beats memchr's setup */
    while (q < e && *q != ',') q++;
    *f = (mq__field){p, (size_t)(q - p), false};
    return q;
}

/* Splits the CSV line [b, e) into at most max fields; returns the count, max + 1 when there
 * are more, or -1 for a malformed quote. */
int mq__csv_split(const char *b, const char *e, mq__field *f, int max);

/* Whole-field number: true when [p, p+n) is entirely a finite decimal ([+-]digits[.digits]
 * with an optional exponent), converted with one rounding. */
bool mq__parse_f64(const char *p, size_t n, double *v);

extern const double mq__pow10[23];   /* 1e0 .. 1e22, exact */

/* m x 10^e10 with m exact, correctly rounded when the result is true: Clinger's exact path
 * (m < 2^53, |e10| <= 22) inline, else mq__dec_wide (csv.c: m < 2^64, |e10| <= 27 in x87
 * extended precision, refusing the one ambiguous case). False: use strtod. */
bool mq__dec_wide(uint64_t m, int e10, double *v);
static inline bool mq__dec_to_f64(uint64_t m, int e10, double *v)
{
    if (m < (1ull << 53) && e10 >= -22 && e10 <= 22) {
        *v = e10 >= 0 ? (double)m * mq__pow10[e10] : (double)m / mq__pow10[-e10];
        return true;
    }
    return mq__dec_wide(m, e10, v);
}

/* Eight ASCII digits at p (little-endian word v) as one number (Lemire's SWAR method: three
 * multiplications instead of eight dependent multiply-adds); mq__is_8digits checks them. */
static inline bool mq__is_8digits(uint64_t v)
{
    return ((v & 0xF0F0F0F0F0F0F0F0ull) | (((v + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) ==
           0x3333333333333333ull;
}
static inline uint32_t mq__parse_8digits(uint64_t v)
{
    v -= 0x3030303030303030ull;
    v = v * 10 + (v >> 8);
    v = (((v & 0x000000FF000000FFull) * 0x000F424000000064ull) +
         (((v >> 16) & 0x000000FF000000FFull) * 0x0000271000000001ull)) >> 32;
    return (uint32_t)v;
}

/* The fast path of the float parser fused with the scan: a plain decimal [-]digits[.digits]
 * at p (the buffer ends at e), at most 19 digits, converted by mq__dec_to_f64 (the same bits
 * as mq__parse_f64). Returns the first byte after it (e or any byte that is not part of it:
 * the caller checks the terminator), or NULL when the text needs mq__parse_f64. */
static inline __attribute__((always_inline)) const char *mq__csv_num_scan(const char *p, const char *e, double *out)
{
    bool neg = false;
    if (p < e && *p == '-') { neg = true; p++; }
    uint64_t mant = 0;
    const char *d0 = p;
    while (p < e && (unsigned)(*p - '0') < 10) mant = mant * 10 + (uint64_t)(*p++ - '0');
    long nd = p - d0, frac = 0;
    if (p < e && *p == '.') {
        const char *f0 = ++p;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        while (e - p >= 8) {   /* more than 19 digits overflows mant: refused below */
            uint64_t v;
            memcpy(&v, p, 8);
            if (!mq__is_8digits(v)) break;
            mant = mant * 100000000u + mq__parse_8digits(v);
            p += 8;
        }
#endif
        while (p < e && (unsigned)(*p - '0') < 10) mant = mant * 10 + (uint64_t)(*p++ - '0');
        frac = p - f0;
        nd += frac;
    }
    double v;
    if (nd == 0 || nd > 19 || !mq__dec_to_f64(mant, -(int)frac, &v)) return NULL;
    *out = neg ? -v : v;
    return p;
}

/* mq__csv_num_scan for a field that ends at ',' or e: NULL when the field needs
 * mq__csv_field + mq__parse_f64. */
static inline const char *mq__csv_num_fast(const char *p, const char *e, double *out)
{
    const char *q = mq__csv_num_scan(p, e, out);
    return q && (q == e || *q == ',') ? q : NULL;
}

/* A small non-negative integer (1-9 digits) at p: its value and the first byte after it, or
 * NULL (no digit, or more than 9: use the whole-field parsers). */
static inline const char *mq__csv_uint_scan(const char *p, const char *e, uint32_t *out)
{
    const char *d0 = p;
    uint32_t v = 0;
    while (p < e && (unsigned)(*p - '0') < 10 && p - d0 < 10) v = v * 10 + (uint32_t)(*p++ - '0');
    if (p == d0 || p - d0 > 9) return NULL;
    *out = v;
    return p;
}

/* ---- top-k (topk.c) ---- */
/* Rank order: (sa, ia) before (sb, ib) when sa > sb, or sa == sb and ia < ib. */
static inline bool mq__rank_before(float sa, int32_t ia, float sb, int32_t ib)
{
    return sa > sb || (sa == sb && ia < ib);
}
/* A bounded min-heap of the best pairs in parallel arrays hs/hi [k] (root = worst kept). */
void mq__heap_sift_up(float *hs, int32_t *hi, int i);
void mq__heap_sift_down(float *hs, int32_t *hi, int n, int i);
/* Offers (s, t) to the heap of *n pairs (capacity k >= 1): kept while fewer than k, else
 * replaces the root when it ranks before it. */
static inline void mq__heap_offer(float *hs, int32_t *hi, int *n, int k, float s, int32_t t)
{
    if (*n < k) {
        hs[*n] = s;
        hi[*n] = t;
        mq__heap_sift_up(hs, hi, (*n)++);
    } else if (mq__rank_before(s, t, hs[0], hi[0])) {
        hs[0] = s;
        hi[0] = t;
        mq__heap_sift_down(hs, hi, k, 0);
    }
}
/* Sorts a heap of n pairs in place, best first. */
void mq__heap_sort(float *hs, int32_t *hi, int n);
/* Top-k of scores[n] by rank order, skipping NaN entries; out sorted best first (out_idx and
 * out_val [k] double as the heap); returns the count. */
int mq__topk(const float *scores, int32_t n, int k, int32_t *out_idx, float *out_val);
/* The k-th largest (k in [1, n]) of v[0 .. n) (no NaN); v is reordered (quickselect). */
float mq__kth_largest(float *v, int n, int k);



/* ---- line reader and field helpers (lines.c) ---- */
/* Writes at most 60 bytes of text[0..n) into out[cap] for an error message: printable ASCII and
 * whole valid UTF-8 sequences as they are, every other byte as \xNN, "..." when cut. */
void mq__render_text(char *out, size_t cap, const char *text, size_t n);
/* A source file being parsed. */
typedef struct mq__src {
    const char *path;        /* as given, used in messages */
    const char *data;        /* mapping (NULL for an empty file) */
    size_t len;
    const char *p;           /* next unread byte */
    int64_t line;            /* number of the line last returned (1-based) */
    bool utf8_per_line;      /* the file has invalid UTF-8: check each line */
    mq_load_opts *opts;      /* skip_bad_rows and the bad-row report; may be NULL (strict) */
    const char *const *cols; /* column names for messages about a whole line (may be NULL) */
    int n_cols;
    mq_err *err;
} mq__src;

/* Maps path into s. An empty file is MQ_EFORMAT "path: the file is empty". */
int mq__ld_open(mq__src *s, const char *path, mq_load_opts *opts, mq_err *err);
void mq__ld_close(mq__src *s);
/* Next line into [*b, *e) without its "\n" or "\r\n". Returns 1 for a line, 0 at the end, or
 * a negative MQ_E* when the line is bad and strict mode fails (a truncated last line, invalid
 * UTF-8); 2 when the line is bad and was skipped (call again). */
int mq__ld_next(mq__src *s, const char **b, const char **e);
/* Reports a bad row of s: field may be NULL; text/n is the offending text. Returns 0 when the
 * row is skipped (skip_bad_rows), else MQ_EFORMAT with the message in s->err. */
int mq__ld_bad(mq__src *s, const char *field, const char *text, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Splits [b, e) on delim (no quoting) into at most max fields; returns the count, or max + 1
 * when there are more. */
int mq__ld_split(const char *b, const char *e, char delim, mq__field *f, int max);
/* CSV lines: core's mq__csv_split (RFC 4180 quotes) and mq__field. */
/* Splits on the two-character separator "::". */
int mq__ld_split2(const char *b, const char *e, mq__field *f, int max);
/* Copies a field's text into a NUL-terminated heap string, undoing "" escapes and converting
 * from Latin-1 when latin1_ok and the bytes are not valid UTF-8. NULL on ENOMEM. */
char *mq__ld_strdup(const mq__field *f, bool latin1_ok);

/* Whole-string number parsers: true when [p, p+n) is entirely a number in range. */
bool mq__ld_u64(const char *p, size_t n, uint64_t *v);
bool mq__ld_i64(const char *p, size_t n, int64_t *v);
/* Decimals: core's mq__parse_f64. */

#endif
