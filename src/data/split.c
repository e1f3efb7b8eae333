/* split.c: train/validation/test splits, their CSV files, and the binarization that precedes
 * them.
 *
 * Protocols (all deterministic from opts->seed: one mq_rng drives every random choice, in a
 * fixed order):
 *  - strong generalization (Liang, Krishnan, Hoffman, Jebara 2018, "Variational Autoencoders
 *    for Collaborative Filtering"; Steck 2019, EASE): members are shuffled; the first
 *    round(test_frac * n) are test members, the next round(val_frac * n) validation members,
 *    the rest train members. The train matrix holds only train members. A held-out member's
 *    titles are first restricted to titles some train member interacted with (the protocol's
 *    "title set is the titles seen by training members": a title no model could have learned
 *    is dropped, never remapped); then, when at least 5 remain, floor((1 - in_frac) * count)
 *    of them drawn without replacement are the targets (out) and the rest the fold-in (in);
 *    with fewer than 5 all are fold-in and the member has no targets (as Liang et al.'s code).
 *  - temporal: a global cutoff (default: the 90% quantile of interaction times): interactions
 *    at or after it are targets; or, with last_n > 0, each member's last N interactions (by
 *    time, ties by title index) when the member has more than N. Train = everything else (all
 *    members); a held-out member's fold-in is its training history.
 *  - leave-one-out: each member with at least 2 interactions has its latest one (ties broken at
 *    random by the seed) as the single target; train = the rest.
 * In every protocol the train dataset keeps the input's whole title index space (so title
 * indices, ids and catalog agree with the input); titles without train interactions simply
 * have empty columns, and targets / fold-in titles are restricted to titles with train
 * interactions. Validation is empty (n = 0) for temporal and leave-one-out.
 *
 * Files: train.csv, val_in.csv, val_out.csv, test_in.csv, test_out.csv, each "member,title"
 * with external ids (quoted when they hold a comma or quote). mq_split_read accepts such files
 * from any tool (val files optional); titles appearing only in held-out files are added to the
 * title space after the train titles (empty columns), so nothing is silently dropped.
 */
#include "data/data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- positives ---------------------------------------------------------------------------- */

int mq_data_positives(const mq_dataset *d, float min_rating, int min_positives, mq_dataset **out,
                      mq_err *err)
{
    if (min_rating <= 0) min_rating = 4.0f;
    /* Implicit data: strictly positive values are positives (nextafter(0) as the threshold). */
    float thr = d->ratings ? min_rating : nextafterf(0.0f, 1.0f);
    int rc = mq_dataset_binarize(d, thr, min_positives, out, err);
    if (rc == 0) (*out)->ratings = false;
    return rc;
}

/* ---- held-out builder --------------------------------------------------------------------- */

typedef struct hb {
    mq_heldout h;
    int64_t cap_in, cap_out, n_in, n_out;
    int32_t cap_n;
} hb;

static int hb_member(hb *b, const char *id)
{
    if (b->h.n == b->cap_n) {
        int32_t nc = b->cap_n ? 2 * b->cap_n : 64;
        char **ids = realloc(b->h.member_ids, (size_t)nc * sizeof *ids);
        if (!ids) return MQ_ENOMEM;
        b->h.member_ids = ids;
        int64_t *ip = realloc(b->h.in_ptr, ((size_t)nc + 1) * sizeof *ip);
        if (!ip) return MQ_ENOMEM;
        b->h.in_ptr = ip;
        int64_t *op = realloc(b->h.out_ptr, ((size_t)nc + 1) * sizeof *op);
        if (!op) return MQ_ENOMEM;
        b->h.out_ptr = op;
        b->cap_n = nc;
    }
    if (b->h.n == 0) { b->h.in_ptr[0] = 0; b->h.out_ptr[0] = 0; }
    if (!(b->h.member_ids[b->h.n] = strdup(id))) return MQ_ENOMEM;
    b->h.n++;
    b->h.in_ptr[b->h.n] = b->n_in;
    b->h.out_ptr[b->h.n] = b->n_out;
    return 0;
}

static int push_idx(int32_t **a, int64_t *n, int64_t *cap, int32_t v)
{
    if (*n == *cap) {
        int64_t nc = *cap ? 2 * *cap : 256;
        int32_t *q = realloc(*a, (size_t)nc * sizeof *q);
        if (!q) return MQ_ENOMEM;
        *a = q;
        *cap = nc;
    }
    (*a)[(*n)++] = v;
    return 0;
}

/* Appends a title to the last member's in (which = 0) or out list. */
static int hb_add(hb *b, int which, int32_t t)
{
    int rc = which == 0 ? push_idx(&b->h.in_idx, &b->n_in, &b->cap_in, t)
                        : push_idx(&b->h.out_idx, &b->n_out, &b->cap_out, t);
    if (rc) return rc;
    b->h.in_ptr[b->h.n] = b->n_in;
    b->h.out_ptr[b->h.n] = b->n_out;
    return 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts each member's lists ascending and makes sure the arrays exist. */
static int hb_finish(hb *b, mq_heldout *out)
{
    if (!b->h.in_ptr) {
        b->h.in_ptr = calloc(1, sizeof *b->h.in_ptr);
        b->h.out_ptr = calloc(1, sizeof *b->h.out_ptr);
        if (!b->h.in_ptr || !b->h.out_ptr) return MQ_ENOMEM;
    }
    if (!b->h.in_idx && !(b->h.in_idx = malloc(sizeof *b->h.in_idx))) return MQ_ENOMEM;
    if (!b->h.out_idx && !(b->h.out_idx = malloc(sizeof *b->h.out_idx))) return MQ_ENOMEM;
    for (int32_t i = 0; i < b->h.n; i++) {
        qsort(b->h.in_idx + b->h.in_ptr[i], (size_t)(b->h.in_ptr[i + 1] - b->h.in_ptr[i]), sizeof(int32_t), cmp_i32);
        qsort(b->h.out_idx + b->h.out_ptr[i], (size_t)(b->h.out_ptr[i + 1] - b->h.out_ptr[i]), sizeof(int32_t), cmp_i32);
    }
    *out = b->h;
    memset(b, 0, sizeof *b);
    return 0;
}

static void heldout_release(mq_heldout *h)
{
    if (h->member_ids)
        for (int32_t i = 0; i < h->n; i++) free(h->member_ids[i]);
    free(h->member_ids);
    free(h->in_ptr);
    free(h->in_idx);
    free(h->out_ptr);
    free(h->out_idx);
    memset(h, 0, sizeof *h);
}

void mq_split_release(mq_split *s)
{
    if (!s) return;
    mq_dataset_destroy(s->train);
    heldout_release(&s->val);
    heldout_release(&s->test);
    memset(s, 0, sizeof *s);
}

/* ---- protocols ---------------------------------------------------------------------------- */

typedef struct ent {
    int64_t time;
    int32_t title;
    uint32_t tiebreak;
} ent;

static int cmp_ent(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    if (x->tiebreak != y->tiebreak) return x->tiebreak < y->tiebreak ? -1 : 1;
    return (x->title > y->title) - (x->title < y->title);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int mq_split_make(const mq_dataset *d, const mq_split_opts *o, mq_split *out, mq_err *err)
{
    memset(out, 0, sizeof *out);
    mq_split_opts op;
    int orc = MQ__OPTS_GET(mq_split_opts, &op, o, err);
    if (orc) return orc;
    if (op.protocol == MQ_SPLIT_STRONG) {
        if (op.test_frac == 0 && op.val_frac == 0) op.test_frac = op.val_frac = 0.1;
        if (op.in_frac == 0) op.in_frac = 0.8;
        if (!(op.test_frac >= 0 && op.val_frac >= 0 && op.test_frac + op.val_frac < 1))
            return mq__err_set(err, MQ_EINVAL, "test_frac %g + val_frac %g must be in [0, 1)", op.test_frac, op.val_frac);
        if (!(op.in_frac > 0 && op.in_frac < 1))
            return mq__err_set(err, MQ_EINVAL, "in_frac %g must be in (0, 1)", op.in_frac);
    } else if (op.protocol != MQ_SPLIT_TEMPORAL && op.protocol != MQ_SPLIT_LOO) {
        return mq__err_set(err, MQ_EINVAL, "unknown split protocol %d", op.protocol);
    }
    if (op.last_n < 0) return mq__err_set(err, MQ_EINVAL, "last_n %d must be >= 0", op.last_n);
    if (d->n_members == 0 || d->nnz == 0) return mq__err_set(err, MQ_EINVAL, "cannot split an empty dataset");

    mq_rng rng;
    mq_rng_seed(&rng, op.seed);
    int32_t nm = d->n_members;
    uint8_t *keep = calloc((size_t)MQ_MAX(d->nnz, 1), 1);   /* entry goes to train */
    uint8_t *target = calloc((size_t)MQ_MAX(d->nnz, 1), 1); /* entry is a held-out target */
    uint8_t *role = calloc((size_t)nm, 1);                   /* 0 train, 1 val, 2 test */
    uint8_t *seen = calloc((size_t)d->n_titles + 1, 1);      /* title has train entries */
    int32_t *perm = malloc((size_t)nm * sizeof *perm);
    ent *buf = NULL;
    int32_t *tbuf = NULL;
    hb hv = {0}, ht = {0};
    int rc = MQ_ENOMEM;
    if (!keep || !target || !role || !seen || !perm) goto fail;

    if (op.protocol == MQ_SPLIT_STRONG) {
        for (int32_t i = 0; i < nm; i++) perm[i] = i;
        for (int32_t i = nm - 1; i > 0; i--) {
            int32_t j = (int32_t)mq_rng_below(&rng, (uint64_t)i + 1);
            int32_t tmp = perm[i]; perm[i] = perm[j]; perm[j] = tmp;
        }
        int32_t n_test = (int32_t)llround(op.test_frac * nm), n_val = (int32_t)llround(op.val_frac * nm);
        if (n_test + n_val >= nm) {
            rc = mq__err_set(err, MQ_EINVAL, "%d members are too few to hold out %d test and %d validation members",
                             nm, n_test, n_val);
            goto fail;
        }
        for (int32_t i = 0; i < n_test; i++) role[perm[i]] = 2;
        for (int32_t i = n_test; i < n_test + n_val; i++) role[perm[i]] = 1;
        for (int32_t u = 0; u < nm; u++)
            if (role[u] == 0)
                for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) { keep[e] = 1; seen[d->m_idx[e]] = 1; }
        int64_t maxdeg = 0;
        for (int32_t u = 0; u < nm; u++) maxdeg = MQ_MAX(maxdeg, d->m_ptr[u + 1] - d->m_ptr[u]);
        if (!(tbuf = malloc((size_t)MQ_MAX(maxdeg, 1) * sizeof *tbuf))) goto fail;
        /* Test members first, then validation, each in member index order. */
        for (int pass = 2; pass >= 1; pass--) {
            hb *b = pass == 2 ? &ht : &hv;
            for (int32_t u = 0; u < nm; u++) {
                if (role[u] != pass) continue;
                int64_t k = 0;
                for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++)
                    if (seen[d->m_idx[e]]) tbuf[k++] = d->m_idx[e];
                if ((rc = hb_member(b, mq_idmap_name(d->member_ids, u)))) goto fail;
                int64_t n_out = k >= 5 ? (int64_t)floor((1.0 - op.in_frac) * (double)k + 1e-9) : 0;
                /* Partial Fisher-Yates: the last n_out positions become the targets. */
                for (int64_t i = k - 1; i >= k - n_out; i--) {
                    int64_t j = (int64_t)mq_rng_below(&rng, (uint64_t)i + 1);
                    int32_t tmp = tbuf[i]; tbuf[i] = tbuf[j]; tbuf[j] = tmp;
                }
                for (int64_t i = 0; i < k; i++)
                    if ((rc = hb_add(b, i >= k - n_out, tbuf[i]))) goto fail;
            }
        }
    } else {
        int64_t cutoff = op.cutoff;
        bool per_member = op.protocol == MQ_SPLIT_LOO || op.last_n > 0;
        int last_n = op.protocol == MQ_SPLIT_LOO ? 1 : op.last_n;
        if (!per_member && cutoff == 0) {
            int64_t *times = malloc((size_t)d->nnz * sizeof *times);
            if (!times) goto fail;
            memcpy(times, d->m_time, (size_t)d->nnz * sizeof *times);
            qsort(times, (size_t)d->nnz, sizeof *times, cmp_i64);
            cutoff = times[(int64_t)floor(0.9 * (double)(d->nnz - 1))];
            if (cutoff == times[0]) cutoff = times[0] + 1;   /* all equal: nothing before would train */
            free(times);
        }
        int64_t maxdeg = 0;
        for (int32_t u = 0; u < nm; u++) maxdeg = MQ_MAX(maxdeg, d->m_ptr[u + 1] - d->m_ptr[u]);
        if (!(buf = malloc((size_t)MQ_MAX(maxdeg, 1) * sizeof *buf))) goto fail;
        for (int32_t u = 0; u < nm; u++) {
            int64_t b0 = d->m_ptr[u], deg = d->m_ptr[u + 1] - b0;
            if (per_member) {
                for (int64_t e = b0; e < b0 + deg; e++) keep[e] = 1;
                if (deg <= last_n) continue;
                for (int64_t i = 0; i < deg; i++)
                    buf[i] = (ent){d->m_time[b0 + i], (int32_t)i,
                                   op.protocol == MQ_SPLIT_LOO ? (uint32_t)mq_rng_next(&rng) : 0};
                qsort(buf, (size_t)deg, sizeof *buf, cmp_ent);
                for (int64_t i = deg - last_n; i < deg; i++) { keep[b0 + buf[i].title] = 0; target[b0 + buf[i].title] = 1; }
            } else {
                for (int64_t e = b0; e < b0 + deg; e++) {
                    keep[e] = d->m_time[e] < cutoff;
                    target[e] = !keep[e];
                }
            }
        }
        for (int64_t e = 0; e < d->nnz; e++)
            if (keep[e]) seen[d->m_idx[e]] = 1;
        for (int32_t u = 0; u < nm; u++) {
            bool any = false;
            for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) any = any || (target[e] && seen[d->m_idx[e]]);
            if (!any) continue;
            if ((rc = hb_member(&ht, mq_idmap_name(d->member_ids, u)))) goto fail;
            for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++)
                if (seen[d->m_idx[e]] && (rc = hb_add(&ht, target[e], d->m_idx[e]))) goto fail;
        }
    }
    int64_t n_keep = 0;
    for (int64_t e = 0; e < d->nnz; e++) n_keep += keep[e];
    if (n_keep == 0) {
        rc = mq__err_set(err, MQ_EINVAL, "the split leaves no training interactions%s",
                         op.protocol == MQ_SPLIT_TEMPORAL && op.cutoff ? " (the cutoff is before every interaction)" : "");
        goto fail;
    }
    if ((rc = mq_dataset_select(d, keep, false, &out->train, err))) goto fail;
    if ((rc = hb_finish(&hv, &out->val)) || (rc = hb_finish(&ht, &out->test))) goto fail;
    free(keep); free(target); free(role); free(seen); free(perm); free(buf); free(tbuf);
    return 0;
fail:
    free(keep); free(target); free(role); free(seen); free(perm); free(buf); free(tbuf);
    heldout_release(&hv.h);
    heldout_release(&ht.h);
    mq_split_release(out);
    if (rc == MQ_ENOMEM) mq__err_set(err, MQ_ENOMEM, "out of memory making the split");
    return rc;
}

/* ---- files -------------------------------------------------------------------------------- */

static void put_id(FILE *f, const char *id)
{
    if (!strpbrk(id, ",\"\n\r")) { fputs(id, f); return; }
    fputc('"', f);
    for (const char *p = id; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static int write_pairs(const char *dir, const char *name, const mq_split *s, const mq_heldout *h,
                       int which, mq_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    mq_atomic_file a;
    int rc = mq__atomic_open(&a, path, err);
    if (rc) return rc;
    fputs("member,title\n", a.f);
    const mq_dataset *tr = s->train;
    if (!h) {
        for (int32_t u = 0; u < tr->n_members; u++) {
            const char *mid = mq_idmap_name(tr->member_ids, u);
            for (int64_t e = tr->m_ptr[u]; e < tr->m_ptr[u + 1]; e++) {
                put_id(a.f, mid);
                fputc(',', a.f);
                put_id(a.f, mq_idmap_name(tr->title_ids, tr->m_idx[e]));
                fputc('\n', a.f);
            }
        }
    } else {
        for (int32_t i = 0; i < h->n; i++) {
            const int64_t *ptr = which == 0 ? h->in_ptr : h->out_ptr;
            const int32_t *idx = which == 0 ? h->in_idx : h->out_idx;
            for (int64_t e = ptr[i]; e < ptr[i + 1]; e++) {
                put_id(a.f, h->member_ids[i]);
                fputc(',', a.f);
                put_id(a.f, mq_idmap_name(tr->title_ids, idx[e]));
                fputc('\n', a.f);
            }
        }
    }
    if (ferror(a.f)) {
        mq__atomic_abort(&a);
        return mq__err_set(err, MQ_EIO, "%s: write failed", path);
    }
    return mq__atomic_commit(&a, err);
}

int mq_split_write(const mq_split *s, const char *dir, mq_err *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return mq__err_set(err, MQ_EIO, "%s: cannot create the directory: %s", dir, strerror(errno));
    int rc;
    if ((rc = write_pairs(dir, "train.csv", s, NULL, 0, err))) return rc;
    if ((rc = write_pairs(dir, "val_in.csv", s, &s->val, 0, err))) return rc;
    if ((rc = write_pairs(dir, "val_out.csv", s, &s->val, 1, err))) return rc;
    if ((rc = write_pairs(dir, "test_in.csv", s, &s->test, 0, err))) return rc;
    return write_pairs(dir, "test_out.csv", s, &s->test, 1, err);
}

/* Pairs read from one file: member id strings by index into a per-file idmap, title indices
 * in the shared title space. */
typedef struct pairs {
    int32_t *m, *t;
    int64_t n, cap;
} pairs;

static int read_pairs(const char *path, mq_idmap *members, mq__idspace *titles, pairs *p, mq_err *err)
{
    mq__src s;
    int rc = mq__ld_open(&s, path, NULL, err);
    if (rc) return rc;
    const char *b, *e;
    mq__field f[3];
    char *mid = NULL, *tid = NULL;
    for (;;) {
        int r = mq__ld_next(&s, &b, &e);
        if (r == 0) break;
        if (r < 0) { rc = r; goto done; }
        if (s.line == 1) {
            if ((size_t)(e - b) != 12 || memcmp(b, "member,title", 12) != 0) {
                rc = mq__ld_bad(&s, NULL, b, (size_t)(e - b), "header must be 'member,title'");
                goto done;
            }
            continue;
        }
        int nf = mq__csv_split(b, e, f, 2);
        if (nf != 2) {
            rc = mq__ld_bad(&s, NULL, b, (size_t)(e - b), nf < 0 ? "unterminated quote" : "expected 2 fields 'member,title'");
            goto done;
        }
        if (f[0].n == 0 || f[1].n == 0) {
            rc = mq__ld_bad(&s, f[0].n == 0 ? "member" : "title", "", 0, "is empty");
            goto done;
        }
        mid = mq__ld_strdup(&f[0], false);
        tid = mq__ld_strdup(&f[1], false);
        if (!mid || !tid) { rc = MQ_ENOMEM; goto done; }
        int32_t m = mq_idmap_intern(members, mid, strlen(mid));
        int32_t t = mq__ids_intern(titles, tid, strlen(tid), false);
        free(mid); free(tid);
        mid = tid = NULL;
        if (m < 0 || t < 0) { rc = MQ_ENOMEM; goto done; }
        if (p->n == p->cap) {
            int64_t nc = p->cap ? 2 * p->cap : 1024;
            int32_t *pm = realloc(p->m, (size_t)nc * sizeof *pm);
            if (!pm) { rc = MQ_ENOMEM; goto done; }
            p->m = pm;
            int32_t *pt = realloc(p->t, (size_t)nc * sizeof *pt);
            if (!pt) { rc = MQ_ENOMEM; goto done; }
            p->t = pt;
            p->cap = nc;
        }
        p->m[p->n] = m;
        p->t[p->n] = t;
        p->n++;
    }
done:
    free(mid); free(tid);
    mq__ld_close(&s);
    if (rc == MQ_ENOMEM) return mq__err_set(err, MQ_ENOMEM, "out of memory reading %s", path);
    return rc;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Groups in/out pairs into a held-out set (members in order of first appearance). */
static int make_heldout(mq_idmap *members, const pairs *in, const pairs *outp, mq_heldout *h)
{
    int32_t n = mq_idmap_size(members);
    memset(h, 0, sizeof *h);
    h->n = n;
    h->member_ids = calloc((size_t)n + 1, sizeof *h->member_ids);
    h->in_ptr = calloc((size_t)n + 1, sizeof *h->in_ptr);
    h->out_ptr = calloc((size_t)n + 1, sizeof *h->out_ptr);
    h->in_idx = malloc((size_t)MQ_MAX(in->n, 1) * sizeof *h->in_idx);
    h->out_idx = malloc((size_t)MQ_MAX(outp->n, 1) * sizeof *h->out_idx);
    if (!h->member_ids || !h->in_ptr || !h->out_ptr || !h->in_idx || !h->out_idx) return MQ_ENOMEM;
    for (int32_t i = 0; i < n; i++)
        if (!(h->member_ids[i] = strdup(mq_idmap_name(members, i)))) return MQ_ENOMEM;
    for (int k = 0; k < 2; k++) {
        const pairs *p = k == 0 ? in : outp;
        int64_t *ptr = k == 0 ? h->in_ptr : h->out_ptr;
        int32_t *idx = k == 0 ? h->in_idx : h->out_idx;
        for (int64_t i = 0; i < p->n; i++) ptr[p->m[i] + 1]++;
        for (int32_t i = 0; i < n; i++) ptr[i + 1] += ptr[i];
        int64_t *fill = malloc(((size_t)n + 1) * sizeof *fill);
        if (!fill) return MQ_ENOMEM;
        memcpy(fill, ptr, ((size_t)n + 1) * sizeof *fill);
        for (int64_t i = 0; i < p->n; i++) idx[fill[p->m[i]]++] = p->t[i];
        free(fill);
        for (int32_t i = 0; i < n; i++) qsort(idx + ptr[i], (size_t)(ptr[i + 1] - ptr[i]), sizeof *idx, cmp_i32);
    }
    return 0;
}

int mq_split_read(const char *dir, mq_split *out, mq_err *err)
{
    memset(out, 0, sizeof *out);
    static const char *names[5] = {"train.csv", "val_in.csv", "val_out.csv", "test_in.csv", "test_out.csv"};
    pairs p[5];
    memset(p, 0, sizeof p);
    mq_idmap *mem[3] = {mq_idmap_create(), mq_idmap_create(), mq_idmap_create()};   /* train, val, test */
    mq__idspace titles;
    int rc = mq__ids_init(&titles);
    mq_interaction *x = NULL;
    if (rc || !mem[0] || !mem[1] || !mem[2]) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    for (int i = 0; i < 5; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if ((i == 1 || i == 2) && !exists(path)) continue;
        if ((rc = read_pairs(path, mem[(i + 1) / 2], &titles, &p[i], err))) goto fail;
    }
    if (p[0].n == 0) { rc = mq__err_set(err, MQ_EFORMAT, "%s/train.csv: no rows", dir); goto fail; }
    if ((rc = make_heldout(mem[1], &p[1], &p[2], &out->val)) || (rc = make_heldout(mem[2], &p[3], &p[4], &out->test))) {
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        goto fail;
    }
    if (!(x = malloc((size_t)p[0].n * sizeof *x))) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    for (int64_t i = 0; i < p[0].n; i++) x[i] = (mq_interaction){p[0].m[i], p[0].t[i], 1.0f, MQ_EV_PLAY, 0};
    mq_idmap *tm = titles.map;
    titles.map = NULL;
    rc = mq_dataset_build(x, p[0].n, mem[0], tm, &out->train, err);
    mem[0] = NULL;
    if (rc) goto fail;
    free(x);
    for (int i = 0; i < 5; i++) { free(p[i].m); free(p[i].t); }
    mq_idmap_destroy(mem[1]);
    mq_idmap_destroy(mem[2]);
    mq__ids_release(&titles);
    return 0;
fail:
    free(x);
    for (int i = 0; i < 5; i++) { free(p[i].m); free(p[i].t); }
    for (int i = 0; i < 3; i++) mq_idmap_destroy(mem[i]);
    mq__ids_release(&titles);
    mq_split_release(out);
    return rc;
}
