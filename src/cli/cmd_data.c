/* cmd_data.c: `marquee data import|stats|split|synth`: a thin client of the data layer.
 * Data (stats, split summaries) goes to stdout; progress, skipped-row reports and errors to
 * stderr. Exit 0 ok, 1 failure, 2 usage. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *data_usage =
    "Usage: marquee data <subcommand> [options]\n\n"
    "Subcommands:\n"
    "  import FILE... --out catalog.mqd   load interaction files (+ catalog) into a binary snapshot\n"
    "  stats PATH [--json]                members, titles, interactions, density, popularity skew\n"
    "  split PATH --protocol P --seed S --write-split DIR   train/validation/test split as CSV\n"
    "  synth --members N --titles M --interactions K --seed S --out FILE   synthetic events CSV\n\n"
    "PATH is a snapshot (.mqd), a data file, or a dataset directory (e.g. data/ml-latest-small).\n"
    "Run 'marquee data <subcommand> --help' for its options. See docs/data.md for the formats.\n";

static const char *load_opts_help =
    "  --format F        auto (default), movielens, ml100k, mldat, lastfm, lines, events\n"
    "  --skip-bad-rows   skip malformed rows (report how many and the first reasons on stderr)\n"
    "                    instead of failing on the first one\n";

/* Parses the loading options shared by the subcommands; returns 1 when argv[*i] was one. */
static int load_opt(const char *cmd, int argc, char **argv, int *i, mq_load_opts *o, int *rc)
{
    if (strcmp(argv[*i], "--skip-bad-rows") == 0) { o->skip_bad_rows = true; return 1; }
    if (strcmp(argv[*i], "--format") == 0) {
        if (*i + 1 >= argc) { *rc = mq_cli_usage_error(cmd, "--format needs a value"); return 1; }
        int f = mq_format_parse(argv[++*i]);
        if (f < 0) { *rc = mq_cli_usage_error(cmd, "unknown --format '%s'", argv[*i]); return 1; }
        o->format = f;
        return 1;
    }
    return 0;
}

static void report_skipped(const mq_load_opts *o)
{
    if (!o->skip_bad_rows || o->n_bad_rows == 0) return;
    fprintf(stderr, "marquee data: skipped %lld bad row%s; the first:\n", (long long)o->n_bad_rows,
            o->n_bad_rows == 1 ? "" : "s");
    for (int i = 0; i < 5 && i < o->n_bad_rows; i++) fprintf(stderr, "  %s\n", o->first_bad[i]);
}

static const char *need_value(int argc, char **argv, int i)
{
    return i + 1 < argc ? argv[i + 1] : NULL;
}

/* Whether a is one of the NULL-terminated names (so a missing value can be told from an
 * unknown option). */
static bool one_of(const char *a, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(a, *names) == 0) return true;
    return false;
}

/* ---- import ---- */

static int cmd_import(int argc, char **argv)
{
    const char *cmd = "data import";
    if (argc >= 2 && mq_cli_is_help(argv[1])) {
        printf("Usage: marquee data import FILE|DIR... --out catalog.mqd [options]\n\n"
               "Loads interaction files (and the catalog files beside them: movies.csv + tags.csv,\n"
               "u.item, movies.dat, artists.dat + tags) and writes a binary snapshot (checksummed,\n"
               "written atomically) that later commands load by mmap in milliseconds.\n\n"
               "Options:\n  --out FILE        the snapshot to write (required)\n%s", load_opts_help);
        return MQ_EXIT_OK;
    }
    mq_load_opts o = {0};
    o.log = &mq_cli_log;
    const char *outp = NULL;
    const char **paths = calloc((size_t)argc, sizeof *paths);
    int np = 0, rc = -1;
    if (!paths) return MQ_EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        if (load_opt(cmd, argc, argv, &i, &o, &rc)) { if (rc >= 0) goto out; continue; }
        if (strcmp(argv[i], "--out") == 0) {
            if (!(outp = need_value(argc, argv, i))) { rc = mq_cli_usage_error(cmd, "--out needs a file"); goto out; }
            i++;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            rc = mq_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
            goto out;
        } else {
            paths[np++] = argv[i];
        }
    }
    if (np == 0) { rc = mq_cli_usage_error(cmd, "name at least one input file or directory"); goto out; }
    if (!outp) { rc = mq_cli_usage_error(cmd, "--out FILE is required"); goto out; }
    mq_err err = {0};
    mq_dataset *d;
    double t0 = mq_now();
    if (mq_data_load(paths, np, &o, &d, &err)) { report_skipped(&o); rc = mq_cli_fail(cmd, &err); goto out; }
    report_skipped(&o);
    double t1 = mq_now();
    if (mq_snapshot_save(d, outp, &err)) { mq_dataset_destroy(d); rc = mq_cli_fail(cmd, &err); goto out; }
    fprintf(stderr, "marquee data: %s: %d members, %d titles, %lld interactions (load %.3f s, write %.3f s)\n",
            outp, d->n_members, d->n_titles, (long long)d->nnz, t1 - t0, mq_now() - t1);
    mq_dataset_destroy(d);
    rc = MQ_EXIT_OK;
out:
    free(paths);
    return rc;
}

/* ---- stats ---- */

static int cmd_stats(int argc, char **argv)
{
    const char *cmd = "data stats";
    if (argc >= 2 && mq_cli_is_help(argv[1])) {
        printf("Usage: marquee data stats PATH [--json] [options]\n\n"
               "Prints members, titles (and titles with interactions), interactions, density, the\n"
               "share of interactions on the top 1%% most popular titles, member activity quantiles\n"
               "(min, 25%%, median, 75%%, max; linear interpolation) and mean, and the time range.\n\n"
               "Options:\n  --json            one JSON object instead of text\n%s", load_opts_help);
        return MQ_EXIT_OK;
    }
    mq_load_opts o = {0};
    const char *path = NULL;
    bool json = false;
    int rc = -1;
    for (int i = 1; i < argc; i++) {
        if (load_opt(cmd, argc, argv, &i, &o, &rc)) { if (rc >= 0) return rc; continue; }
        if (strcmp(argv[i], "--json") == 0) json = true;
        else if (argv[i][0] == '-' && argv[i][1]) return mq_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (path) return mq_cli_usage_error(cmd, "one PATH only (got '%s' and '%s')", path, argv[i]);
        else path = argv[i];
    }
    if (!path) return mq_cli_usage_error(cmd, "name a PATH (snapshot, file or directory)");
    mq_err err = {0};
    mq_dataset *d;
    int lr = mq_data_open(path, &o, &d, &err);
    report_skipped(&o);
    if (lr) return mq_cli_fail(cmd, &err);
    mq_data_stats s;
    mq_data_stats_compute(d, &s);
    if (json) {
        /* Numbers through the library's JSON writer (shortest round-trip form, null if NaN). */
        printf("{\"members\":%d,\"titles\":%d,\"titles_with_interactions\":%d,\"interactions\":%lld,",
               s.n_members, s.n_titles, s.n_titles_with_events, (long long)s.nnz);
        fputs("\"density\":", stdout);
        mq_json_write_num(stdout, s.density);
        fputs(",\"top1pct_share\":", stdout);
        mq_json_write_num(stdout, s.top1pct_share);
        const char *qn[5] = {"min", "q25", "median", "q75", "max"};
        fputs(",\"activity\":{", stdout);
        for (int i = 0; i < 5; i++) {
            printf("\"%s\":", qn[i]);
            mq_json_write_num(stdout, s.activity_q[i]);
            putchar(',');
        }
        fputs("\"mean\":", stdout);
        mq_json_write_num(stdout, s.activity_mean);
        printf("},\"time_min\":%lld,\"time_max\":%lld,\"ratings\":%s}\n", (long long)s.time_min,
               (long long)s.time_max, d->ratings ? "true" : "false");
    } else {
        printf("members        %d\n", s.n_members);
        printf("titles         %d (%d with interactions)\n", s.n_titles, s.n_titles_with_events);
        printf("interactions   %lld%s\n", (long long)s.nnz, d->ratings ? " (explicit ratings)" : "");
        printf("density        %.6f%%\n", 100 * s.density);
        printf("top 1%% titles  %.2f%% of interactions\n", 100 * s.top1pct_share);
        printf("per member     min %.6g, q25 %.6g, median %.6g, q75 %.6g, max %.6g, mean %.2f\n",
               s.activity_q[0], s.activity_q[1], s.activity_q[2], s.activity_q[3], s.activity_q[4], s.activity_mean);
        printf("time           %lld .. %lld\n", (long long)s.time_min, (long long)s.time_max);
    }
    mq_dataset_destroy(d);
    return MQ_EXIT_OK;
}

/* ---- split ---- */

static int cmd_split(int argc, char **argv)
{
    const char *cmd = "data split";
    if (argc >= 2 && mq_cli_is_help(argv[1])) {
        printf("Usage: marquee data split PATH --protocol strong|temporal|loo --seed S --write-split DIR [options]\n\n"
               "Binarizes (explicit ratings >= --min-rating are positives; implicit data: every pair\n"
               "with a positive value), keeps members with >= --min-positives positives, splits, and\n"
               "writes DIR/train.csv, val_in.csv, val_out.csv, test_in.csv, test_out.csv (member,title,\n"
               "external ids). Any tool can read the identical split back (marquee: --split DIR).\n\n"
               "Options:\n"
               "  --protocol P       strong (held-out members, 80/20 fold-in/targets), temporal, loo\n"
               "  --seed S           seed of every random choice (default 1)\n"
               "  --write-split DIR  where to write the CSV files (required)\n"
               "  --min-rating R     explicit ratings: positives are >= R (default 4)\n"
               "  --min-positives N  keep members with at least N positives (default 5)\n"
               "  --no-binarize      split the interactions as they are\n"
               "  --test-frac F      strong: share of members held out for test (default 0.1)\n"
               "  --val-frac F       strong: share held out for validation (default 0.1)\n"
               "  --in-frac F        strong: fold-in share of each held-out member (default 0.8)\n"
               "  --cutoff T         temporal: unix time cutoff (default: the 90%% time quantile)\n"
               "  --last-n N         temporal: hold out each member's last N instead of a cutoff\n%s",
               load_opts_help);
        return MQ_EXIT_OK;
    }
    mq_load_opts o = {0};
    mq_split_opts so = {.protocol = -1, .seed = 1, .test_frac = 0.1, .val_frac = 0.1, .in_frac = 0.8};
    const char *path = NULL, *dir = NULL;
    double min_rating = 4;
    long long min_pos = 5;
    bool binarize = true;
    int rc = -1;
    for (int i = 1; i < argc; i++) {
        if (load_opt(cmd, argc, argv, &i, &o, &rc)) { if (rc >= 0) return rc; continue; }
        const char *a = argv[i], *v = need_value(argc, argv, i);
        double dv;
        long long lv;
        if (strcmp(a, "--no-binarize") == 0) { binarize = false; continue; }
        if (a[0] != '-' || !a[1]) {
            if (path) return mq_cli_usage_error(cmd, "one PATH only (got '%s' and '%s')", path, a);
            path = a;
            continue;
        }
        static const char *const split_opts[] = {"--protocol", "--write-split", "--seed", "--min-rating",
            "--min-positives", "--test-frac", "--val-frac", "--in-frac", "--cutoff", "--last-n", NULL};
        if (!one_of(a, split_opts)) return mq_cli_usage_error(cmd, "unknown option '%s'", a);
        if (!v) return mq_cli_usage_error(cmd, "%s needs a value", a);
        i++;
        if (strcmp(a, "--protocol") == 0) {
            if (strcmp(v, "strong") == 0) so.protocol = MQ_SPLIT_STRONG;
            else if (strcmp(v, "temporal") == 0) so.protocol = MQ_SPLIT_TEMPORAL;
            else if (strcmp(v, "loo") == 0) so.protocol = MQ_SPLIT_LOO;
            else return mq_cli_usage_error(cmd, "--protocol must be strong, temporal or loo (got '%s')", v);
        } else if (strcmp(a, "--write-split") == 0) {
            dir = v;
        } else if (strcmp(a, "--seed") == 0) {
            if (mq_cli_parse_i64(v, &lv) || lv < 0) return mq_cli_usage_error(cmd, "--seed must be a non-negative integer (got '%s')", v);
            so.seed = (uint64_t)lv;
        } else if (strcmp(a, "--min-rating") == 0) {
            if (mq_cli_parse_double(v, &min_rating) || !(min_rating > 0)) return mq_cli_usage_error(cmd, "--min-rating must be a positive number (got '%s')", v);
        } else if (strcmp(a, "--min-positives") == 0) {
            if (mq_cli_parse_i64(v, &min_pos) || min_pos < 0 || min_pos > 1000000) return mq_cli_usage_error(cmd, "--min-positives must be an integer >= 0 (got '%s')", v);
        } else if (strcmp(a, "--test-frac") == 0 || strcmp(a, "--val-frac") == 0 || strcmp(a, "--in-frac") == 0) {
            if (mq_cli_parse_double(v, &dv) || !(dv >= 0 && dv < 1)) return mq_cli_usage_error(cmd, "%s must be in [0, 1) (got '%s')", a, v);
            if (a[2] == 't') so.test_frac = dv;
            else if (a[2] == 'v') so.val_frac = dv;
            else so.in_frac = dv;
        } else if (strcmp(a, "--cutoff") == 0) {
            if (mq_cli_parse_i64(v, &lv) || lv <= 0) return mq_cli_usage_error(cmd, "--cutoff must be a positive unix time (got '%s')", v);
            so.cutoff = lv;
        } else if (strcmp(a, "--last-n") == 0) {
            if (mq_cli_parse_i64(v, &lv) || lv < 1 || lv > 1000000) return mq_cli_usage_error(cmd, "--last-n must be an integer >= 1 (got '%s')", v);
            so.last_n = (int)lv;
        } else {
            return mq_cli_usage_error(cmd, "unknown option '%s'", a);
        }
    }
    if (!path) return mq_cli_usage_error(cmd, "name a PATH (snapshot, file or directory)");
    if (so.protocol < 0) return mq_cli_usage_error(cmd, "--protocol strong|temporal|loo is required");
    if (!dir) return mq_cli_usage_error(cmd, "--write-split DIR is required");
    if (so.protocol == MQ_SPLIT_STRONG && so.in_frac <= 0) return mq_cli_usage_error(cmd, "--in-frac must be in (0, 1)");
    mq_err err = {0};
    mq_dataset *d, *b = NULL;
    int lr = mq_data_open(path, &o, &d, &err);
    report_skipped(&o);
    if (lr) return mq_cli_fail(cmd, &err);
    if (binarize) {
        if (mq_data_positives(d, (float)min_rating, (int)min_pos, &b, &err)) { mq_dataset_destroy(d); return mq_cli_fail(cmd, &err); }
        mq_dataset_destroy(d);
        d = b;
        if (d->nnz == 0) {
            mq_dataset_destroy(d);
            fprintf(stderr, "marquee %s: %s: no member has %lld or more positives (interactions with value >= %g); "
                    "lower --min-positives or --min-rating, or pass --no-binarize\n", cmd, path, min_pos, min_rating);
            return MQ_EXIT_FAIL;
        }
    }
    mq_split s;
    if (mq_split_make(d, &so, &s, &err)) { mq_dataset_destroy(d); return mq_cli_fail(cmd, &err); }
    mq_dataset_destroy(d);
    if (mq_split_write(&s, dir, &err)) { mq_split_release(&s); return mq_cli_fail(cmd, &err); }
    int64_t vi = s.val.n ? s.val.in_ptr[s.val.n] : 0, vo = s.val.n ? s.val.out_ptr[s.val.n] : 0;
    int64_t ti = s.test.n ? s.test.in_ptr[s.test.n] : 0, to = s.test.n ? s.test.out_ptr[s.test.n] : 0;
    printf("train  %d members, %lld interactions\nval    %d members, %lld fold-in, %lld targets\n"
           "test   %d members, %lld fold-in, %lld targets\nwritten to %s\n",
           s.train->n_members, (long long)s.train->nnz, s.val.n, (long long)vi, (long long)vo, s.test.n,
           (long long)ti, (long long)to, dir);
    mq_split_release(&s);
    return MQ_EXIT_OK;
}

/* ---- synth ---- */

static int cmd_synth(int argc, char **argv)
{
    const char *cmd = "data synth";
    if (argc >= 2 && mq_cli_is_help(argv[1])) {
        printf("Usage: marquee data synth --members N --titles M --interactions K --seed S --out FILE\n\n"
               "Writes synthetic implicit interactions as an events CSV (member,title,timestamp,event,\n"
               "value): Zipf-like title popularity, log-normal member activity, distinct titles per\n"
               "member, chronological per member. Streams in O(N + M) memory (100M+ interactions\n"
               "fine); written atomically. Deterministic from --seed.\n\n"
               "Options:\n"
               "  --zipf S     popularity exponent: P(rank r) ~ r^-S (default 1.0)\n"
               "  --sigma X    log-normal sigma of member activity (default 1.0)\n");
        return MQ_EXIT_OK;
    }
    mq_synth_opts so = {0};
    const char *outp = NULL;
    bool have[4] = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = need_value(argc, argv, i);
        static const char *const synth_opts[] = {"--out", "--zipf", "--sigma", "--members", "--titles",
                                                 "--interactions", "--seed", NULL};
        if (a[0] != '-') return mq_cli_usage_error(cmd, "unexpected argument '%s'", a);
        if (!one_of(a, synth_opts)) return mq_cli_usage_error(cmd, "unknown option '%s'", a);
        if (!v) return mq_cli_usage_error(cmd, "%s needs a value", a);
        i++;
        long long lv;
        double dv;
        if (strcmp(a, "--out") == 0) { outp = v; continue; }
        if (strcmp(a, "--zipf") == 0 || strcmp(a, "--sigma") == 0) {
            if (mq_cli_parse_double(v, &dv) || !(dv > 0 && dv < 100)) return mq_cli_usage_error(cmd, "%s must be a positive number (got '%s')", a, v);
            if (a[2] == 'z') so.zipf_s = dv; else so.activity_sigma = dv;
            continue;
        }
        int k = strcmp(a, "--members") == 0 ? 0 : strcmp(a, "--titles") == 0 ? 1 : strcmp(a, "--interactions") == 0 ? 2
              : strcmp(a, "--seed") == 0 ? 3 : -1;
        if (k < 0) return mq_cli_usage_error(cmd, "unknown option '%s'", a);
        if (mq_cli_parse_i64(v, &lv) || lv < (k == 3 ? 0 : 1)) return mq_cli_usage_error(cmd, "%s must be a positive integer (got '%s')", a, v);
        have[k] = true;
        if (k == 0) so.n_members = lv;
        else if (k == 1) so.n_titles = lv;
        else if (k == 2) so.n_interactions = lv;
        else so.seed = (uint64_t)lv;
    }
    if (!have[0] || !have[1] || !have[2]) return mq_cli_usage_error(cmd, "--members, --titles and --interactions are required");
    if (!outp) return mq_cli_usage_error(cmd, "--out FILE is required");
    mq_err err = {0};
    int rc = mq_synth_write(&so, outp, &mq_cli_log, &err);
    /* Invalid sizes are the arguments' fault: a usage error saying which way to change them. */
    if (rc == MQ_EINVAL)
        return mq_cli_usage_error(cmd, "%s: lower --interactions or raise --members / --titles", err.msg);
    if (rc) return mq_cli_fail(cmd, &err);
    return MQ_EXIT_OK;
}

int mq_cli_data(int argc, char **argv)
{
    if (argc < 2) { fputs(data_usage, stderr); return MQ_EXIT_USAGE; }
    if (mq_cli_is_help(argv[1])) { fputs(data_usage, stdout); return MQ_EXIT_OK; }
    const char *sub = argv[1];
    if (strcmp(sub, "import") == 0) return cmd_import(argc - 1, argv + 1);
    if (strcmp(sub, "stats") == 0) return cmd_stats(argc - 1, argv + 1);
    if (strcmp(sub, "split") == 0) return cmd_split(argc - 1, argv + 1);
    if (strcmp(sub, "synth") == 0) return cmd_synth(argc - 1, argv + 1);
    return mq_cli_usage_error("data", "unknown subcommand '%s'", sub);
}
