/* snapshot.c: binary dataset snapshots ("catalog.mqd"), written atomically, loaded by mmap.
 *
 * Layout (little-endian, as the machine writes it; a snapshot is for the same architecture):
 *   header, 64 bytes:
 *     0  magic "MQDSNAP1"        8  u32 version (1)      12 u32 flags (bit 0: ratings)
 *     16 i32 n_members           20 i32 n_titles         24 i64 nnz
 *     32 u32 n_sections          36 u32 reserved (0)     40 u64 file size
 *     48 u32 CRC-32C of the section table                52 u32 reserved (0)
 *     56 u32 reserved (0)        60 u32 CRC-32C of bytes 0..59
 *   section table at 64: n_sections entries of 32 bytes:
 *     u32 id, u32 CRC-32C of the section bytes, u64 offset, u64 length, u64 count
 *   sections, each starting at a 64-byte aligned offset (zero padding between):
 *     m_ptr i64[n_members+1], m_idx i32[nnz], m_val f32[nnz], m_time i64[nnz],
 *     t_ptr i64[n_titles+1], t_idx i32[nnz], t_val f32[nnz], t_time i64[nnz],
 *     member ids and title ids (count NUL-terminated strings back to back),
 *     catalog: names (per title "\1name\0", or "\0" for none), years i32[n_titles],
 *     genres u64[n_titles], genre names (strings), tag_ptr i64[n_titles+1], tag_ids i32[],
 *     tag_counts f32[], tag names (strings);
 *     artwork: art_ptr i64[n_titles+1] (empty when the catalog has no artwork) and, per artwork,
 *     its id and features as two strings (section count = the number of artworks); both are
 *     left out (18 sections, the layout from before artwork) when the catalog has none.
 *
 * Loading maps the file read-only; the matrix arrays point straight into the mapping (so a
 * load costs a checksum pass plus rebuilding the id maps and copying the catalog strings).
 * Every check names what failed: a short file or a size that disagrees with the header is
 * "truncated"; a checksum mismatch names the section; out-of-range pointers or indices are
 * structural corruption; padding must be zero and sections in order, so every byte of the file
 * is checked. A loaded dataset is read-only (the mapping is PROT_READ).
 * mq_dataset_destroy unmaps it (dataset.c).
 */
#include "data/data.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SNAP_MAGIC "MQDSNAP1"
#define SNAP_VERSION 1u
#define HDR_SIZE 64
#define ENTRY_SIZE 32

enum {
    S_M_PTR = 1, S_M_IDX, S_M_VAL, S_M_TIME, S_T_PTR, S_T_IDX, S_T_VAL, S_T_TIME,
    S_MEMBER_IDS, S_TITLE_IDS, S_CAT_NAMES, S_CAT_YEARS, S_CAT_GENRES, S_GENRE_NAMES,
    S_TAG_PTR, S_TAG_IDS, S_TAG_COUNTS, S_TAG_NAMES, S_ART_PTR, S_ART_STRINGS, S_COUNT
};

static const char *section_names[S_COUNT] = {
    "?", "m_ptr", "m_idx", "m_val", "m_time", "t_ptr", "t_idx", "t_val", "t_time",
    "member ids", "title ids", "catalog names", "catalog years", "catalog genres",
    "genre names", "tag_ptr", "tag_ids", "tag_counts", "tag names", "art_ptr", "artwork strings"};

/* ---- save --------------------------------------------------------------------------------- */

typedef struct sec {
    uint32_t id;
    const void *p;
    uint64_t len, count;
    uint32_t crc;
    uint64_t off;
} sec;

static void put_strings(mq_buf *b, const mq_idmap *m)
{
    for (int32_t i = 0; i < mq_idmap_size(m); i++) {
        const char *s = mq_idmap_name(m, i);
        mq_buf_put(b, s, strlen(s) + 1);
    }
}

int mq_snapshot_save(const mq_dataset *d, const char *path, mq_err *err)
{
    const mq_catalog *c = &d->catalog;
    mq_buf mids, tids, names, gnames, tnames, arts;
    mq_buf_init(&mids); mq_buf_init(&tids); mq_buf_init(&names); mq_buf_init(&gnames); mq_buf_init(&tnames);
    mq_buf_init(&arts);
    const int64_t n_art = c->art_ptr ? c->n_artworks : 0;
    for (int64_t i = 0; i < n_art; i++) {
        mq_buf_put(&arts, c->art_ids[i], strlen(c->art_ids[i]) + 1);
        mq_buf_put(&arts, c->art_features[i], strlen(c->art_features[i]) + 1);
    }
    put_strings(&mids, d->member_ids);
    put_strings(&tids, d->title_ids);
    for (int32_t t = 0; t < d->n_titles; t++) {
        const char *nm = c->names ? c->names[t] : NULL;
        if (nm) { mq_buf_putc(&names, 1); mq_buf_put(&names, nm, strlen(nm) + 1); }
        else mq_buf_putc(&names, 0);
    }
    for (int g = 0; g < c->n_genres; g++) mq_buf_put(&gnames, c->genre_names[g], strlen(c->genre_names[g]) + 1);
    for (int32_t i = 0; i < c->n_tags && c->tag_names; i++) mq_buf_put(&tnames, c->tag_names[i], strlen(c->tag_names[i]) + 1);
    int rc = 0;
    if (mids.oom || tids.oom || names.oom || gnames.oom || tnames.oom || arts.oom) {
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory writing %s", path);
        goto out;
    }
    int64_t *zero_ptr = NULL;
    int64_t n_tag_entries = c->tag_ptr && c->tag_ids ? c->tag_ptr[d->n_titles] : 0;
    uint64_t nt = (uint64_t)d->n_titles, nnz = (uint64_t)d->nnz;
    /* A catalog without some arrays (a dataset assembled by hand) is saved as empty metadata. */
    if (!(zero_ptr = calloc(nt + 1, sizeof *zero_ptr))) {
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory writing %s", path);
        goto out;
    }
    sec s[S_COUNT - 1] = {
        {S_M_PTR, d->m_ptr, 8 * ((uint64_t)d->n_members + 1), (uint64_t)d->n_members + 1, 0, 0},
        {S_M_IDX, d->m_idx, 4 * nnz, nnz, 0, 0},
        {S_M_VAL, d->m_val, 4 * nnz, nnz, 0, 0},
        {S_M_TIME, d->m_time, 8 * nnz, nnz, 0, 0},
        {S_T_PTR, d->t_ptr, 8 * (nt + 1), nt + 1, 0, 0},
        {S_T_IDX, d->t_idx, 4 * nnz, nnz, 0, 0},
        {S_T_VAL, d->t_val, 4 * nnz, nnz, 0, 0},
        {S_T_TIME, d->t_time, 8 * nnz, nnz, 0, 0},
        {S_MEMBER_IDS, mids.p, mids.len, (uint64_t)d->n_members, 0, 0},
        {S_TITLE_IDS, tids.p, tids.len, nt, 0, 0},
        {S_CAT_NAMES, names.p, names.len, nt, 0, 0},
        {S_CAT_YEARS, c->years ? (const void *)c->years : zero_ptr, 4 * nt, nt, 0, 0},
        {S_CAT_GENRES, c->genres ? (const void *)c->genres : zero_ptr, 8 * nt, nt, 0, 0},
        {S_GENRE_NAMES, gnames.p, gnames.len, (uint64_t)c->n_genres, 0, 0},
        {S_TAG_PTR, n_tag_entries ? c->tag_ptr : zero_ptr, 8 * (nt + 1), nt + 1, 0, 0},
        {S_TAG_IDS, c->tag_ids, 4 * (uint64_t)n_tag_entries, (uint64_t)n_tag_entries, 0, 0},
        {S_TAG_COUNTS, c->tag_counts, 4 * (uint64_t)n_tag_entries, (uint64_t)n_tag_entries, 0, 0},
        {S_TAG_NAMES, tnames.p, tnames.len, c->tag_names ? (uint64_t)c->n_tags : 0, 0, 0},
        {S_ART_PTR, c->art_ptr, c->art_ptr ? 8 * (nt + 1) : 0, c->art_ptr ? nt + 1 : 0, 0, 0},
        {S_ART_STRINGS, arts.p, arts.len, (uint64_t)n_art, 0, 0},
    };
    /* Without artwork the artwork sections are left out: the file is byte for byte what this
     * format was before artwork existed. */
    const uint32_t ns = c->art_ptr ? S_COUNT - 1 : S_ART_PTR - 1;
    uint64_t off = HDR_SIZE + (uint64_t)ns * ENTRY_SIZE;
    uint8_t table[(S_COUNT - 1) * ENTRY_SIZE];
    for (uint32_t i = 0; i < ns; i++) {
        off = (off + 63) & ~(uint64_t)63;
        s[i].off = off;
        s[i].crc = s[i].len ? mq_crc32c(0, s[i].p, s[i].len) : 0;
        off += s[i].len;
        uint8_t *e = table + i * ENTRY_SIZE;
        memcpy(e, &s[i].id, 4);
        memcpy(e + 4, &s[i].crc, 4);
        memcpy(e + 8, &s[i].off, 8);
        memcpy(e + 16, &s[i].len, 8);
        memcpy(e + 24, &s[i].count, 8);
    }
    uint64_t file_size = off;
    uint8_t hdr[HDR_SIZE] = {0};
    memcpy(hdr, SNAP_MAGIC, 8);
    uint32_t version = SNAP_VERSION, flags = d->ratings ? 1u : 0u;
    memcpy(hdr + 8, &version, 4);
    memcpy(hdr + 12, &flags, 4);
    memcpy(hdr + 16, &d->n_members, 4);
    memcpy(hdr + 20, &d->n_titles, 4);
    memcpy(hdr + 24, &d->nnz, 8);
    memcpy(hdr + 32, &ns, 4);
    memcpy(hdr + 40, &file_size, 8);
    uint32_t tcrc = mq_crc32c(0, table, (size_t)ns * ENTRY_SIZE);
    memcpy(hdr + 48, &tcrc, 4);
    uint32_t hcrc = mq_crc32c(0, hdr, 60);
    memcpy(hdr + 60, &hcrc, 4);

    mq_atomic_file a;
    if ((rc = mq__atomic_open(&a, path, err))) { free(zero_ptr); goto out; }
    static const uint8_t pad[64] = {0};
    fwrite(hdr, 1, sizeof hdr, a.f);
    fwrite(table, 1, (size_t)ns * ENTRY_SIZE, a.f);
    uint64_t pos = HDR_SIZE + (uint64_t)ns * ENTRY_SIZE;
    for (uint32_t i = 0; i < ns; i++) {
        fwrite(pad, 1, s[i].off - pos, a.f);
        if (s[i].len) fwrite(s[i].p, 1, s[i].len, a.f);
        pos = s[i].off + s[i].len;
    }
    free(zero_ptr);
    if (ferror(a.f)) {
        mq__atomic_abort(&a);
        rc = mq__err_set(err, MQ_EIO, "%s: write failed", path);
        goto out;
    }
    rc = mq__atomic_commit(&a, err);
out:
    mq_buf_release(&mids); mq_buf_release(&tids); mq_buf_release(&names);
    mq_buf_release(&gnames); mq_buf_release(&tnames); mq_buf_release(&arts);
    return rc;
}

/* ---- load --------------------------------------------------------------------------------- */

typedef struct view {
    const uint8_t *p;
    uint64_t len, count;
} view;

/* Whether a strings section holds exactly count C strings (each NUL-terminated within
 * bounds). An absent section (the artwork ones in an 18-section file) has p == NULL. */
static bool strings_ok(const view *v)
{
    if (!v->len) return v->count == 0;   /* and no NULL + 0 below */
    uint64_t k = 0;
    const uint8_t *p = v->p, *end = v->p + v->len;
    while (p < end) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        if (!z) return false;
        p = z + 1;
        k++;
    }
    return k == v->count;
}

static int rebuild_ids(const view *v, mq_idmap **out)
{
    mq_idmap *m = mq_idmap_create();
    if (!m) return MQ_ENOMEM;
    const char *p = (const char *)v->p;
    for (uint64_t i = 0; i < v->count; i++) {
        size_t n = strlen(p);
        if (mq_idmap_intern(m, p, n) != (int32_t)i) {
            mq_idmap_destroy(m);
            return MQ_ECORRUPT;   /* a repeated id (or ENOMEM) */
        }
        p += n + 1;
    }
    *out = m;
    return 0;
}

static bool ptr_ok(const int64_t *ptr, int64_t n, int64_t total)
{
    if (ptr[0] != 0 || ptr[n] != total) return false;
    for (int64_t i = 0; i < n; i++)
        if (ptr[i + 1] < ptr[i]) return false;
    return true;
}

static bool idx_ok(const int32_t *idx, int64_t n, int32_t bound)
{
    for (int64_t i = 0; i < n; i++)
        if ((uint32_t)idx[i] >= (uint32_t)bound) return false;
    return true;
}

int mq_snapshot_load(const char *path, mq_dataset **out, mq_err *err)
{
    return mq__snapshot_load(path, false, out, err);
}

/* The header's fields (bytes 0..63), read by read_header. */
typedef struct snap_hdr {
    uint32_t flags, ns;
    int32_t n_members, n_titles;
    int64_t nnz;
} snap_hdr;

/* Phase 1: the header: magic, checksum, version, file size and the section count. */
static int read_header(const char *path, const uint8_t *map, size_t len, snap_hdr *h, mq_err *err)
{
    if (len < HDR_SIZE)
        return mq__err_set(err, MQ_ECORRUPT, "%s: truncated snapshot: %zu bytes, shorter than the %d-byte header", path, len, HDR_SIZE);
    if (memcmp(map, SNAP_MAGIC, 8) != 0)
        return mq__err_set(err, MQ_ECORRUPT, "%s: not a marquee snapshot (bad magic)", path);
    uint32_t version, hcrc;
    uint64_t file_size;
    memcpy(&version, map + 8, 4);
    memcpy(&h->flags, map + 12, 4);
    memcpy(&h->n_members, map + 16, 4);
    memcpy(&h->n_titles, map + 20, 4);
    memcpy(&h->nnz, map + 24, 8);
    memcpy(&h->ns, map + 32, 4);
    memcpy(&file_size, map + 40, 8);
    memcpy(&hcrc, map + 60, 4);
    if (mq_crc32c(0, map, 60) != hcrc)
        return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: header checksum mismatch", path);
    if (version != SNAP_VERSION)
        return mq__err_set(err, MQ_EUNSUP, "%s: snapshot version %u, this build reads version %u", path, version, SNAP_VERSION);
    if (file_size != len)
        return mq__err_set(err, MQ_ECORRUPT, "%s: truncated snapshot: the header says %llu bytes, the file has %zu",
                           path, (unsigned long long)file_size, len);
    if ((h->ns != S_COUNT - 1 && h->ns != S_ART_PTR - 1) || h->n_members < 0 || h->n_titles < 0 || h->nnz < 0 ||
        HDR_SIZE + (uint64_t)h->ns * ENTRY_SIZE > len)
        return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: bad sizes in the header", path);
    return 0;
}

/* Phase 2: the section table and every byte after it: each section in order, inside the file,
 * with its checksum; zero padding between sections; nothing after the last. Fills v[id]. */
static int read_sections(const char *path, const uint8_t *map, size_t len, const snap_hdr *h,
                         view v[S_COUNT], mq_err *err)
{
    uint32_t tcrc;
    memcpy(&tcrc, map + 48, 4);
    if (mq_crc32c(0, map + HDR_SIZE, (size_t)h->ns * ENTRY_SIZE) != tcrc)
        return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: section table checksum mismatch", path);
    memset(v, 0, S_COUNT * sizeof *v);
    uint64_t prev_end = HDR_SIZE + (uint64_t)h->ns * ENTRY_SIZE;
    for (uint32_t i = 0; i < h->ns; i++) {
        const uint8_t *e = map + HDR_SIZE + i * ENTRY_SIZE;
        uint32_t id, crc;
        uint64_t off, slen, count;
        memcpy(&id, e, 4);
        memcpy(&crc, e + 4, 4);
        memcpy(&off, e + 8, 8);
        memcpy(&slen, e + 16, 8);
        memcpy(&count, e + 24, 8);
        if (id != i + 1)
            return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: section %u has id %u", path, i + 1, id);
        const char *sname = section_names[id];
        if (off % 64 || off > len || slen > len - off)
            return mq__err_set(err, MQ_ECORRUPT, "%s: truncated or corrupt snapshot: section '%s' lies outside the file", path, sname);
        if ((slen ? mq_crc32c(0, map + off, slen) : 0) != crc)
            return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: checksum mismatch in section '%s'", path, sname);
        /* Sections follow each other in order; the bytes between them (alignment padding) must
         * be zero, so that every byte of the file is checked by something. */
        if (off < prev_end)
            return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: section '%s' overlaps the previous one", path, sname);
        for (uint64_t q = prev_end; q < off; q++)
            if (map[q])
                return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: nonzero padding before section '%s'", path, sname);
        prev_end = off + slen;
        v[id] = (view){map + off, slen, count};
    }
    if (prev_end != len)
        return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: %llu bytes after the last section",
                           path, (unsigned long long)(len - prev_end));
    return 0;
}

/* Phase 3: the sections agree with the header and each other: sizes of the fixed-width
 * sections, string counts, CSR/CSC pointers and indices in range, tags and artwork. */
static int check_structure(const char *path, const snap_hdr *h, const view v[S_COUNT], mq_err *err)
{
    uint64_t nm1 = (uint64_t)h->n_members + 1, nt = (uint64_t)h->n_titles, nz = (uint64_t)h->nnz;
    uint64_t ntag = v[S_TAG_IDS].count;
    struct { int id; uint64_t count, width; } fixed[] = {
        {S_M_PTR, nm1, 8}, {S_M_IDX, nz, 4}, {S_M_VAL, nz, 4}, {S_M_TIME, nz, 8},
        {S_T_PTR, nt + 1, 8}, {S_T_IDX, nz, 4}, {S_T_VAL, nz, 4}, {S_T_TIME, nz, 8},
        {S_CAT_YEARS, nt, 4}, {S_CAT_GENRES, nt, 8}, {S_TAG_PTR, nt + 1, 8}, {S_TAG_IDS, ntag, 4},
        {S_TAG_COUNTS, ntag, 4},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        const view *w = &v[fixed[i].id];
        if (w->count != fixed[i].count || w->len != fixed[i].count * fixed[i].width)
            return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: section '%s' has the wrong size", path, section_names[fixed[i].id]);
    }
    /* Artwork: no art_ptr (none) or one of n_titles + 1; two strings per artwork. */
    const view *ap = &v[S_ART_PTR], *as = &v[S_ART_STRINGS];
    if ((ap->count != 0 || ap->len != 0) && (ap->count != nt + 1 || ap->len != 8 * (nt + 1)))
        return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: section 'art_ptr' has the wrong size", path);
    view as2 = {as->p, as->len, 2 * as->count};
    if (!strings_ok(&as2) || (ap->count == 0 && as->count != 0) ||
        (ap->count && !ptr_ok((const int64_t *)ap->p, h->n_titles, (int64_t)as->count)))
        return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: section 'artwork strings' disagrees with 'art_ptr'", path);
    int sids[] = {S_MEMBER_IDS, S_TITLE_IDS, S_GENRE_NAMES, S_TAG_NAMES};
    for (size_t i = 0; i < 4; i++)
        if (!strings_ok(&v[sids[i]]))
            return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: section '%s' does not hold its %llu strings",
                               path, section_names[sids[i]], (unsigned long long)v[sids[i]].count);
    if (v[S_MEMBER_IDS].count != (uint64_t)h->n_members || v[S_TITLE_IDS].count != nt ||
        v[S_CAT_NAMES].count != nt || v[S_GENRE_NAMES].count > MQ_MAX_GENRES || v[S_TAG_NAMES].count > INT32_MAX)
        return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: id or name counts disagree with the header", path);
    const int64_t *m_ptr = (const int64_t *)v[S_M_PTR].p, *t_ptr = (const int64_t *)v[S_T_PTR].p;
    const int64_t *tag_ptr = (const int64_t *)v[S_TAG_PTR].p;
    if (!ptr_ok(m_ptr, h->n_members, h->nnz) || !ptr_ok(t_ptr, h->n_titles, h->nnz) ||
        !idx_ok((const int32_t *)v[S_M_IDX].p, h->nnz, h->n_titles) ||
        !idx_ok((const int32_t *)v[S_T_IDX].p, h->nnz, h->n_members))
        return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: matrix pointers or indices out of range", path);
    if (!ptr_ok(tag_ptr, h->n_titles, (int64_t)ntag) ||
        !idx_ok((const int32_t *)v[S_TAG_IDS].p, (int64_t)ntag, (int32_t)v[S_TAG_NAMES].count))
        return mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: tag pointers or indices out of range", path);
    return 0;
}

/* Phase 5: copies the catalog (names, years, genres, tags, artwork) into c (initialised for
 * n_titles). Returns 0, MQ_ENOMEM, or MQ_ECORRUPT for malformed names (no message: the
 * caller names the file). */
static int copy_catalog(const view v[S_COUNT], int32_t n_titles, mq_catalog *c)
{
    uint64_t nt = (uint64_t)n_titles, ntag = v[S_TAG_IDS].count;
    const uint8_t *p = v[S_CAT_NAMES].p, *end = p + v[S_CAT_NAMES].len;
    for (int32_t t = 0; t < n_titles; t++) {
        if (p >= end) return MQ_ECORRUPT;
        if (*p == 0) { p++; continue; }
        if (*p != 1) return MQ_ECORRUPT;
        p++;
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        if (!z) return MQ_ECORRUPT;
        if (!(c->names[t] = strdup((const char *)p))) return MQ_ENOMEM;
        p = z + 1;
    }
    if (p != end) return MQ_ECORRUPT;
    memcpy(c->years, v[S_CAT_YEARS].p, 4 * nt);
    memcpy(c->genres, v[S_CAT_GENRES].p, 8 * nt);
    const char *q = (const char *)v[S_GENRE_NAMES].p;
    for (uint64_t g = 0; g < v[S_GENRE_NAMES].count; g++) {
        if (!(c->genre_names[g] = strdup(q))) return MQ_ENOMEM;
        c->n_genres++;
        q += strlen(q) + 1;
    }
    memcpy(c->tag_ptr, v[S_TAG_PTR].p, 8 * (nt + 1));
    c->tag_ids = malloc(MQ_MAX(ntag, 1) * 4);
    c->tag_counts = malloc(MQ_MAX(ntag, 1) * 4);
    c->tag_names = calloc(v[S_TAG_NAMES].count + 1, sizeof *c->tag_names);
    if (!c->tag_ids || !c->tag_counts || !c->tag_names) return MQ_ENOMEM;
    if (ntag) {
        memcpy(c->tag_ids, v[S_TAG_IDS].p, 4 * ntag);
        memcpy(c->tag_counts, v[S_TAG_COUNTS].p, 4 * ntag);
    }
    q = (const char *)v[S_TAG_NAMES].p;
    for (uint64_t i = 0; i < v[S_TAG_NAMES].count; i++) {
        if (!(c->tag_names[i] = strdup(q))) return MQ_ENOMEM;
        c->n_tags++;
        q += strlen(q) + 1;
    }
    const view *ap = &v[S_ART_PTR], *as = &v[S_ART_STRINGS];
    if (ap->count) {
        c->art_ptr = malloc(8 * (nt + 1));
        c->art_ids = calloc(MQ_MAX(as->count, 1), sizeof *c->art_ids);
        c->art_features = calloc(MQ_MAX(as->count, 1), sizeof *c->art_features);
        if (!c->art_ptr || !c->art_ids || !c->art_features) return MQ_ENOMEM;
        c->n_artworks = (int64_t)as->count;
        memcpy(c->art_ptr, ap->p, 8 * (nt + 1));
        q = (const char *)as->p;
        for (uint64_t i = 0; i < as->count; i++) {
            if (!(c->art_ids[i] = strdup(q))) return MQ_ENOMEM;
            q += strlen(q) + 1;
            if (!(c->art_features[i] = strdup(q))) return MQ_ENOMEM;
            q += strlen(q) + 1;
        }
    }
    return 0;
}

/* Loads in five phases: read the file (mapped, or a private copy for long-lived holders such
 * as the server: a file copied over the mapped one would change the arrays under it or fault
 * with SIGBUS), the header, the sections, their structure, then the dataset: the matrix arrays
 * point into the file's pages, ids and the catalog are rebuilt on the heap. */
int mq__snapshot_load(const char *path, bool private_copy, mq_dataset **out, mq_err *err)
{
    *out = NULL;
    const void *mapv;
    size_t len;
    int rc = private_copy ? mq__file_read(path, &mapv, &len, err) : mq__file_map(path, &mapv, &len, err);
    if (rc) return rc;
    const uint8_t *map = mapv;
    mq_dataset *d = NULL;
    snap_hdr h = {0};
    view v[S_COUNT];
    if ((rc = read_header(path, map, len, &h, err)) || (rc = read_sections(path, map, len, &h, v, err)) ||
        (rc = check_structure(path, &h, v, err)))
        goto fail;

    /* Phase 4: the dataset; it owns the pages from here on. */
    if (!(d = calloc(1, sizeof(mq__dataset_full)))) goto oom;   /* see data.h */
    d->n_members = h.n_members;
    d->n_titles = h.n_titles;
    d->nnz = h.nnz;
    d->ratings = h.flags & 1u;
    /* The mapping is read-only; the struct's pointers are non-const by the public contract. */
    d->m_ptr = (int64_t *)v[S_M_PTR].p;
    d->m_idx = (int32_t *)v[S_M_IDX].p;
    d->m_val = (float *)v[S_M_VAL].p;
    d->m_time = (int64_t *)v[S_M_TIME].p;
    d->t_ptr = (int64_t *)v[S_T_PTR].p;
    d->t_idx = (int32_t *)v[S_T_IDX].p;
    d->t_val = (float *)v[S_T_VAL].p;
    d->t_time = (int64_t *)v[S_T_TIME].p;
    ((mq__dataset_full *)d)->mapping = (void *)map;
    ((mq__dataset_full *)d)->mapping_len = len;
    map = NULL;
    int r2;
    if ((r2 = rebuild_ids(&v[S_MEMBER_IDS], &d->member_ids)) || (r2 = rebuild_ids(&v[S_TITLE_IDS], &d->title_ids))) {
        if (r2 == MQ_ENOMEM) goto oom;
        rc = mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: repeated id in the id sections", path);
        goto fail;
    }
    /* Phase 5: the catalog. */
    if (mq_catalog_init(&d->catalog, h.n_titles)) goto oom;
    r2 = copy_catalog(v, h.n_titles, &d->catalog);
    if (r2 == MQ_ENOMEM) goto oom;
    if (r2) {
        rc = mq__err_set(err, MQ_ECORRUPT, "%s: corrupt snapshot: section 'catalog names' is malformed", path);
        goto fail;
    }
    *out = d;
    return 0;
oom:
    rc = mq__err_set(err, MQ_ENOMEM, "out of memory loading %s", path);
fail:
    if (map) mq__file_unmap(map, len);
    mq_dataset_destroy(d);
    return rc;
}
