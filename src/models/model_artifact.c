/* model_artifact.c: the model file format (save atomically, load into a private copy). See docs/models.md.
 *
 * Layout (all integers little-endian, every section 64-byte aligned):
 *
 *   header, 64 bytes:
 *     0  char[8]  magic "MQMODEL1"
 *     8  u32      format version (1)
 *    12  u32      n_sections
 *    16  u64      file size in bytes (a truncated file is detected before anything is read)
 *    24  u64      training-data checksum (CRC-32C of the training matrix's m_ptr and m_idx)
 *    32  u32      CRC-32C of the section table
 *    36  u8[24]   reserved, zero
 *    60  u32      CRC-32C of header bytes 0..59
 *   section table at 64: n_sections entries of 64 bytes:
 *     0  char[40] name, NUL-padded ("kind", "params", "title_ids", "catalog.years", "a/B", ...)
 *    40  u32      element type (1 u8, 2 i32, 3 i64, 4 f32, 5 u64)
 *    44  u32      CRC-32C of the section's bytes
 *    48  u64      offset from the start of the file (a multiple of 64)
 *    56  u64      element count
 *   the sections, each padded with zeros to a multiple of 64 bytes.
 *
 * Sections: "kind" and "params" (text), "meta" (i64: n_titles, n_members), "title_ids" (the
 * external ids, each NUL-terminated), the catalog ("catalog.names" NUL-terminated strings,
 * "catalog.years", "catalog.genres", "catalog.genre_names", "catalog.tag_ptr",
 * "catalog.tag_ids", "catalog.tag_counts", "catalog.tag_names"), then the model's arrays as
 * "a/<name>". A sub-model i (hybrid) stores "<i>/kind", "<i>/params" and "<i>/a/<name>".
 *
 * Loading maps the file read-only (mq_model_load, for one-shot commands) or reads it into
 * private read-only pages (mq_model_load_private, for the server: a mapping of the file itself
 * would change, or fault with SIGBUS, when someone copies another file over it while the model
 * is held), checks the header, the table and every section's CRC (any mismatch or
 * out-of-bounds section is MQ_ECORRUPT naming the section), then points the numeric arrays
 * into those pages; ids and catalog strings are copied to the heap.
 */
#include "models/model.h"

#include <stdlib.h>
#include <string.h>

#define HDR 64
#define ENT 64
#define VERSION 1u
#define MAX_SECTIONS 256

static size_t type_size(int t)
{
    switch (t) {
    case MQ__A_U8: return 1;
    case MQ__A_I32: case MQ__A_F32: return 4;
    case MQ__A_I64: case MQ__A_U64: return 8;
    default: return 0;
    }
}

typedef struct sec {
    char name[40];
    int type;
    int64_t count;
    const void *p;
    void *own;         /* heap buffer built for the save, freed afterwards */
} sec;

typedef struct sec_list {
    sec s[MAX_SECTIONS];
    int n;
    bool oom;
} sec_list;

static void put(sec_list *l, const char *name, int type, int64_t count, const void *p, void *own)
{
    if (l->n >= MAX_SECTIONS) {
        free(own);
        l->oom = true;
        return;
    }
    if (strlen(name) >= sizeof l->s[0].name) {
        free(own);
        l->oom = true;
        return;
    }
    sec *s = &l->s[l->n++];
    memcpy(s->name, name, strlen(name) + 1);
    s->type = type;
    s->count = count;
    s->p = p;
    s->own = own;
}

/* NUL-separated strings (NULL written as ""). */
static void put_strings(sec_list *l, const char *name, char *const *v, int64_t n,
                        const char *(*get)(const void *, int64_t), const void *obj)
{
    mq_buf b;
    mq_buf_init(&b);
    for (int64_t i = 0; i < n; i++) {
        const char *s = get ? get(obj, i) : v[i];
        if (s) mq_buf_puts(&b, s);
        mq_buf_putc(&b, 0);
    }
    if (b.oom) l->oom = true;
    put(l, name, MQ__A_U8, (int64_t)b.len, b.p, b.p);
}

static const char *title_id_get(const void *obj, int64_t i)
{
    return mq_model_title_id(obj, (int32_t)i);
}

static void put_model(sec_list *l, const mq_model *m, const char *prefix)
{
    char name[64];
    snprintf(name, sizeof name, "%skind", prefix);
    put(l, name, MQ__A_U8, (int64_t)strlen(m->kind), m->kind, NULL);
    snprintf(name, sizeof name, "%sparams", prefix);
    put(l, name, MQ__A_U8, (int64_t)strlen(m->params), m->params, NULL);
    for (int i = 0; i < m->n_arr; i++) {
        snprintf(name, sizeof name, "%sa/%s", prefix, m->arr[i].name);
        if (strlen(name) >= 40) {
            l->oom = true;
            return;
        }
        put(l, name, m->arr[i].type, m->arr[i].count, m->arr[i].p, NULL);
    }
    for (int i = 0; i < MQ__MODEL_MAX_SUB; i++)
        if (m->sub[i]) {
            char p2[16];
            snprintf(p2, sizeof p2, "%s%d/", prefix, i);
            put_model(l, m->sub[i], p2);
        }
}

static void wr_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t rd_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

int mq_model_save(const mq_model *m, const char *path, mq_err *err)
{
    sec_list *l = calloc(1, sizeof *l);
    uint8_t *table = NULL;
    int rc = 0;
    if (!l) return mq__err_set(err, MQ_ENOMEM, "save: out of memory");
    const mq_catalog *c = &m->catalog;
    int64_t *meta = malloc(2 * sizeof *meta);
    if (!meta) l->oom = true;
    else {
        meta[0] = m->n_titles;
        meta[1] = m->n_members;
    }
    put(l, "meta", MQ__A_I64, 2, meta, meta);
    put_strings(l, "title_ids", NULL, m->n_titles, title_id_get, m);
    int64_t n_tag_entries = c->tag_ptr ? c->tag_ptr[c->n_titles] : 0;
    put_strings(l, "catalog.names", c->names, c->names ? c->n_titles : 0, NULL, NULL);
    put(l, "catalog.years", MQ__A_I32, c->years ? c->n_titles : 0, c->years, NULL);
    put(l, "catalog.genres", MQ__A_U64, c->genres ? c->n_titles : 0, c->genres, NULL);
    put_strings(l, "catalog.genre_names", c->genre_names, c->n_genres, NULL, NULL);
    put(l, "catalog.tag_ptr", MQ__A_I64, c->tag_ptr ? c->n_titles + 1 : 0, c->tag_ptr, NULL);
    put(l, "catalog.tag_ids", MQ__A_I32, n_tag_entries, c->tag_ids, NULL);
    put(l, "catalog.tag_counts", MQ__A_F32, n_tag_entries, c->tag_counts, NULL);
    put_strings(l, "catalog.tag_names", c->tag_names, c->n_tags, NULL, NULL);
    put_model(l, m, "");
    if (l->oom) {
        rc = mq__err_set(err, MQ_ENOMEM, "%s: out of memory (or too many sections)", path);
        goto done;
    }

    size_t table_len = (size_t)l->n * ENT;
    table = calloc(1, table_len);
    if (!table) {
        rc = mq__err_set(err, MQ_ENOMEM, "save: out of memory");
        goto done;
    }
    uint64_t off = (HDR + table_len + 63) & ~(uint64_t)63;
    for (int i = 0; i < l->n; i++) {
        sec *s = &l->s[i];
        uint8_t *e = table + (size_t)i * ENT;
        size_t bytes = (size_t)s->count * type_size(s->type);
        memcpy(e, s->name, strlen(s->name));
        wr_u32(e + 40, (uint32_t)s->type);
        wr_u32(e + 44, mq_crc32c(0, s->p, bytes));
        wr_u64(e + 48, off);
        wr_u64(e + 56, (uint64_t)s->count);
        off += (bytes + 63) & ~(uint64_t)63;
    }
    uint8_t hdr[HDR] = {0};
    memcpy(hdr, "MQMODEL1", 8);
    wr_u32(hdr + 8, VERSION);
    wr_u32(hdr + 12, (uint32_t)l->n);
    wr_u64(hdr + 16, off);
    wr_u64(hdr + 24, m->data_crc);
    wr_u32(hdr + 32, mq_crc32c(0, table, table_len));
    wr_u32(hdr + 60, mq_crc32c(0, hdr, 60));

    mq_atomic_file a;
    rc = mq__atomic_open(&a, path, err);
    if (rc) goto done;
    static const uint8_t zeros[64];
    size_t pos = 0;
    bool ok = fwrite(hdr, 1, HDR, a.f) == HDR && fwrite(table, 1, table_len, a.f) == table_len;
    pos = HDR + table_len;
    for (int i = 0; ok && i < l->n; i++) {
        uint64_t so = rd_u64(table + (size_t)i * ENT + 48);
        if (so > pos) ok = fwrite(zeros, 1, so - pos, a.f) == so - pos;
        pos = so;
        size_t bytes = (size_t)l->s[i].count * type_size(l->s[i].type);
        if (ok && bytes) ok = fwrite(l->s[i].p, 1, bytes, a.f) == bytes;
        pos += bytes;
    }
    if (ok && off > pos) ok = fwrite(zeros, 1, off - pos, a.f) == off - pos;
    if (!ok) {
        mq__atomic_abort(&a);
        rc = mq__err_set(err, MQ_EIO, "%s: write failed", path);
        goto done;
    }
    rc = mq__atomic_commit(&a, err);
done:
    for (int i = 0; i < l->n; i++) free(l->s[i].own);
    free(l);
    free(table);
    return rc;
}

/* ---- load ---------------------------------------------------------------------------------- */

typedef struct loaded {
    const uint8_t *base;
    size_t len;
    int n;
    const uint8_t *table;
    const char *path;
} loaded;

/* Section called name: pointer, element count; NULL when absent or of another type. */
static const void *find(const loaded *L, const char *name, int type, int64_t *count,
                        mq_err *err)
{
    for (int i = 0; i < L->n; i++) {
        const uint8_t *e = L->table + (size_t)i * ENT;
        if (strncmp((const char *)e, name, 40) != 0) continue;
        if ((int)rd_u32(e + 40) != type) {
            mq__err_set(err, MQ_ECORRUPT, "%s: section '%s' has type %u, expected %d", L->path,
                        name, rd_u32(e + 40), type);
            return NULL;
        }
        *count = (int64_t)rd_u64(e + 56);
        return L->base + rd_u64(e + 48);
    }
    mq__err_set(err, MQ_ECORRUPT, "%s: section '%s' is missing", L->path, name);
    return NULL;
}

/* Splits n NUL-terminated strings from a section into heap copies (out[n]). */
static int split_strings(const loaded *L, const char *name, int64_t n, char **out, bool null_empty,
                         mq_err *err)
{
    int64_t len;
    const char *p = find(L, name, MQ__A_U8, &len, err);
    if (!p) return MQ_ECORRUPT;
    const char *end = p + len;
    for (int64_t i = 0; i < n; i++) {
        const char *z = memchr(p, 0, (size_t)(end - p));
        if (!z)
            return mq__err_set(err, MQ_ECORRUPT, "%s: section '%s' holds fewer than %lld strings",
                               L->path, name, (long long)n);
        if (z == p && null_empty) out[i] = NULL;
        else if (!(out[i] = strdup(p))) return mq__err_set(err, MQ_ENOMEM, "load: out of memory");
        p = z + 1;
    }
    if (p != end)
        return mq__err_set(err, MQ_ECORRUPT, "%s: section '%s' has trailing bytes", L->path, name);
    return 0;
}

static int load_model(const loaded *L, const char *prefix, int32_t n_titles, mq_model **out,
                      mq_err *err)
{
    char name[64];
    int64_t n;
    snprintf(name, sizeof name, "%skind", prefix);
    const char *kind = find(L, name, MQ__A_U8, &n, err);
    if (!kind) return MQ_ECORRUPT;
    char kbuf[16];
    if (n <= 0 || n >= (int64_t)sizeof kbuf)
        return mq__err_set(err, MQ_ECORRUPT, "%s: bad model kind", L->path);
    memcpy(kbuf, kind, (size_t)n);
    kbuf[n] = 0;
    mq_model *m;
    int rc = mq__model_new(kbuf, NULL, &m, err);
    if (rc) return rc == MQ_EINVAL ? MQ_EUNSUP : rc;
    m->n_titles = n_titles;
    snprintf(name, sizeof name, "%sparams", prefix);
    const char *params = find(L, name, MQ__A_U8, &n, err);
    if (!params || n >= MQ__MODEL_PARAMS_LEN) {
        mq_model_destroy(m);
        return mq__err_set(err, MQ_ECORRUPT, "%s: bad parameter section", L->path);
    }
    memcpy(m->params, params, (size_t)n);
    m->params[n] = 0;
    char apfx[32];
    snprintf(apfx, sizeof apfx, "%sa/", prefix);
    size_t apl = strlen(apfx);
    for (int i = 0; i < L->n; i++) {
        const uint8_t *e = L->table + (size_t)i * ENT;
        char nm[41];
        memcpy(nm, e, 40);
        nm[40] = 0;
        if (strncmp(nm, apfx, apl) != 0) continue;
        if (m->n_arr >= MQ__MODEL_MAX_ARRAYS) {
            mq_model_destroy(m);
            return mq__err_set(err, MQ_ECORRUPT, "%s: too many arrays", L->path);
        }
        mq__marray *a = &m->arr[m->n_arr++];
        snprintf(a->name, sizeof a->name, "%s", nm + apl);
        a->type = (int)rd_u32(e + 40);
        a->count = (int64_t)rd_u64(e + 56);
        a->p = (void *)(L->base + rd_u64(e + 48));
        a->owned = false;
    }
    for (int i = 0; i < MQ__MODEL_MAX_SUB; i++) {
        char sp[16];
        snprintf(sp, sizeof sp, "%s%d/", prefix, i);
        snprintf(name, sizeof name, "%skind", sp);
        bool present = false;
        for (int j = 0; j < L->n; j++)
            if (strncmp((const char *)L->table + (size_t)j * ENT, name, 40) == 0) present = true;
        if (!present) continue;
        rc = load_model(L, sp, n_titles, &m->sub[i], err);
        if (rc) {
            mq_model_destroy(m);
            return rc;
        }
    }
    *out = m;
    return 0;
}

/* Phase 1: the header (magic, checksum, version, size) and the section table: its checksum,
 * every section inside the file, zero padding, and every section's CRC. Fills L. */
static int check_file(const char *path, const uint8_t *b, size_t len, loaded *L, mq_err *err)
{
    if (len < HDR || memcmp(b, "MQMODEL1", 8) != 0)
        return mq__err_set(err, len >= 8 && memcmp(b, "MQMODEL", 7) != 0 ? MQ_EFORMAT : MQ_ECORRUPT,
                           "%s: not a Marquee model file (magic \"MQMODEL1\" %s)", path,
                           len < HDR ? "and a 64-byte header expected; the file is too short"
                                     : "missing");
    if (rd_u32(b + 60) != mq_crc32c(0, b, 60))
        return mq__err_set(err, MQ_ECORRUPT, "%s: header checksum mismatch (damaged file)", path);
    if (rd_u32(b + 8) != VERSION)
        return mq__err_set(err, MQ_EUNSUP, "%s: model format version %u (this build reads %u)",
                           path, rd_u32(b + 8), VERSION);
    if (rd_u64(b + 16) != len)
        return mq__err_set(err, MQ_ECORRUPT, "%s: file is %zu bytes, header says %llu (truncated?)",
                           path, len, (unsigned long long)rd_u64(b + 16));
    uint32_t n_sec = rd_u32(b + 12);
    if (n_sec == 0 || n_sec > MAX_SECTIONS || HDR + (size_t)n_sec * ENT > len)
        return mq__err_set(err, MQ_ECORRUPT, "%s: bad section count %u", path, n_sec);
    *L = (loaded){b, len, (int)n_sec, b + HDR, path};
    if (rd_u32(b + 32) != mq_crc32c(0, L->table, (size_t)n_sec * ENT))
        return mq__err_set(err, MQ_ECORRUPT, "%s: section table checksum mismatch", path);
    for (size_t q = HDR + (size_t)n_sec * ENT; q < MQ_MIN(len, (HDR + (size_t)n_sec * ENT + 63) & ~(size_t)63); q++)
        if (b[q]) return mq__err_set(err, MQ_ECORRUPT, "%s: non-zero padding after the section table", path);
    for (uint32_t i = 0; i < n_sec; i++) {
        const uint8_t *e = L->table + (size_t)i * ENT;
        char nm[41];
        memcpy(nm, e, 40);
        nm[40] = 0;
        size_t ts = type_size((int)rd_u32(e + 40));
        uint64_t off = rd_u64(e + 48), cnt = rd_u64(e + 56);
        if (!ts || off % 64 || off > len || cnt > (len - off) / ts)
            return mq__err_set(err, MQ_ECORRUPT, "%s: section '%s' lies outside the file", path, nm);
        /* Padding after a section must be zero: every byte of the file is then covered. */
        size_t end = off + cnt * ts, pad_end = MQ_MIN((end + 63) & ~(size_t)63, len);
        for (size_t q = end; q < pad_end; q++)
            if (b[q])
                return mq__err_set(err, MQ_ECORRUPT, "%s: non-zero padding after section '%s' "
                                   "(damaged file)", path, nm);
        if (mq_crc32c(0, b + off, cnt * ts) != rd_u32(e + 44))
            return mq__err_set(err, MQ_ECORRUPT, "%s: section '%s': checksum mismatch (damaged file)",
                               path, nm);
    }
    return 0;
}

/* Phase 3: the title ids, interned in order (a duplicate is corruption). */
static int load_title_ids(const loaded *L, int32_t nt, mq_model *m, mq_err *err)
{
    char **ids = calloc((size_t)nt, sizeof *ids);
    m->title_ids = mq_idmap_create();
    if (!ids || !m->title_ids) {
        free(ids);
        return mq__err_set(err, MQ_ENOMEM, "load: out of memory");
    }
    int rc = split_strings(L, "title_ids", nt, ids, false, err);
    for (int32_t t = 0; t < nt && !rc; t++)
        if (mq_idmap_intern(m->title_ids, ids[t], strlen(ids[t])) != t)
            rc = mq__err_set(err, MQ_ECORRUPT, "%s: duplicate title id '%s'", L->path, ids[t]);
    for (int32_t t = 0; t < nt; t++) free(ids[t]);
    free(ids);
    return rc;
}

/* Phase 4: the catalog (copied: it is small and mq_catalog owns its strings). */
static int load_catalog(const loaded *L, int32_t nt, mq_catalog *c, mq_err *err)
{
    const char *path = L->path;
    if (mq_catalog_init(c, nt)) return mq__err_set(err, MQ_ENOMEM, "load: out of memory");
    int rc;
    int64_t cnt;
    const char *names = find(L, "catalog.names", MQ__A_U8, &cnt, err);
    if (!names) return MQ_ECORRUPT;
    if (cnt > 0 && (rc = split_strings(L, "catalog.names", nt, c->names, true, err))) return rc;
    const int32_t *years = find(L, "catalog.years", MQ__A_I32, &cnt, err);
    if (!years || (cnt != 0 && cnt != nt)) return mq__err_set(err, MQ_ECORRUPT, "%s: bad catalog.years", path);
    if (cnt) memcpy(c->years, years, (size_t)nt * sizeof *years);
    const uint64_t *genres = find(L, "catalog.genres", MQ__A_U64, &cnt, err);
    if (!genres || (cnt != 0 && cnt != nt)) return mq__err_set(err, MQ_ECORRUPT, "%s: bad catalog.genres", path);
    if (cnt) memcpy(c->genres, genres, (size_t)nt * sizeof *genres);
    /* Genre names: count the strings first. */
    const char *gn = find(L, "catalog.genre_names", MQ__A_U8, &cnt, err);
    if (!gn) return MQ_ECORRUPT;
    int ng = 0;
    for (int64_t i = 0; i < cnt; i++) ng += gn[i] == 0;
    if (ng > MQ_MAX_GENRES) return mq__err_set(err, MQ_ECORRUPT, "%s: too many genres", path);
    if ((rc = split_strings(L, "catalog.genre_names", ng, c->genre_names, false, err))) return rc;
    c->n_genres = ng;
    const int64_t *tp = find(L, "catalog.tag_ptr", MQ__A_I64, &cnt, err);
    if (!tp || (cnt != 0 && cnt != (int64_t)nt + 1)) return mq__err_set(err, MQ_ECORRUPT, "%s: bad catalog.tag_ptr", path);
    int64_t ne = cnt ? tp[nt] : 0;
    for (int32_t t = 0; cnt && t < nt; t++)
        if (tp[t] < 0 || tp[t + 1] < tp[t]) return mq__err_set(err, MQ_ECORRUPT, "%s: bad catalog.tag_ptr", path);
    if (cnt) memcpy(c->tag_ptr, tp, ((size_t)nt + 1) * sizeof *tp);
    int64_t c1, c2;
    const int32_t *tid = find(L, "catalog.tag_ids", MQ__A_I32, &c1, err);
    const float *tcn = find(L, "catalog.tag_counts", MQ__A_F32, &c2, err);
    const char *tn = find(L, "catalog.tag_names", MQ__A_U8, &cnt, err);
    if (!tid || !tcn || !tn || c1 != ne || c2 != ne) return mq__err_set(err, MQ_ECORRUPT, "%s: bad catalog tags", path);
    int64_t ntag = 0;
    for (int64_t i = 0; i < cnt; i++) ntag += tn[i] == 0;
    c->tag_ids = malloc((size_t)MQ_MAX(ne, 1) * sizeof *c->tag_ids);
    c->tag_counts = malloc((size_t)MQ_MAX(ne, 1) * sizeof *c->tag_counts);
    c->tag_names = calloc((size_t)MQ_MAX(ntag, 1), sizeof *c->tag_names);
    if (!c->tag_ids || !c->tag_counts || !c->tag_names) return mq__err_set(err, MQ_ENOMEM, "load: out of memory");
    c->n_tags = (int32_t)ntag;
    if ((rc = split_strings(L, "catalog.tag_names", ntag, c->tag_names, false, err))) return rc;
    for (int64_t i = 0; i < ne; i++)
        if (tid[i] < 0 || tid[i] >= ntag) return mq__err_set(err, MQ_ECORRUPT, "%s: tag id out of range", path);
    if (ne) {
        memcpy(c->tag_ids, tid, (size_t)ne * sizeof *tid);
        memcpy(c->tag_counts, tcn, (size_t)ne * sizeof *tcn);
    }
    return 0;
}

/* Loads in five phases: read the file (mapped or a private copy), check it (check_file), the
 * model tree with its arrays pointing into the file's pages (load_model, which then owns the
 * pages), the title ids, the catalog, and finally the kind's bind step (mq__model_bind). */
static int load_file(const char *path, bool private_copy, mq_model **out, mq_err *err)
{
    *out = NULL;
    const void *data;
    size_t len;
    int rc = private_copy ? mq__file_read(path, &data, &len, err) : mq__file_map(path, &data, &len, err);
    if (rc) return rc;
    mq_model *m = NULL;
    loaded L;
    if ((rc = check_file(path, data, len, &L, err))) goto fail;
    /* Phase 2: meta and the model tree */
    int64_t n;
    const int64_t *meta = find(&L, "meta", MQ__A_I64, &n, err);
    if (!meta || n != 2 || meta[0] <= 0 || meta[0] > INT32_MAX || meta[1] < 0 ||
        meta[1] > INT32_MAX) {
        rc = mq__err_set(err, MQ_ECORRUPT, "%s: bad meta section", path);
        goto fail;
    }
    int32_t nt = (int32_t)meta[0];
    rc = load_model(&L, "", nt, &m, err);
    if (rc) goto fail;
    m->mapping = data;
    m->mapping_len = len;
    data = NULL;
    m->n_members = (int32_t)meta[1];
    m->data_crc = rd_u64((const uint8_t *)m->mapping + 24);
    if ((rc = load_title_ids(&L, nt, m, err)) || (rc = load_catalog(&L, nt, &m->catalog, err))) goto fail;
    /* Phase 5: the kind's own checks and derived pointers */
    rc = mq__model_bind(m, err);
    if (rc) {
        if (rc != MQ_ENOMEM) rc = MQ_ECORRUPT;
        goto fail;
    }
    *out = m;
    return 0;
fail:
    mq_model_destroy(m);
    if (data) mq__file_unmap(data, len);
    return rc;
}

int mq_model_load(const char *path, mq_model **out, mq_err *err)
{
    return load_file(path, false, out, err);
}

int mq_model_load_private(const char *path, mq_model **out, mq_err *err)
{
    /* a private copy, not a mapping of the file: a server keeps a loaded model for hours, and
     * an operator copying a new file over it (cp, not rename) must not change it under the
     * server or truncate its pages away (SIGBUS) */
    return load_file(path, true, out, err);
}
