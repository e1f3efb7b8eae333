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

/* The loading options every subcommand but synth takes (their getopt vals). */
enum { O_FORMAT = MQ_CLI_OPT, O_SKIP_BAD, O_OUT, O_JSON, O_PROTOCOL, O_WRITE_SPLIT, O_SEED,
       O_MIN_RATING, O_MIN_POS, O_NO_BINARIZE, O_TEST_FRAC, O_VAL_FRAC, O_IN_FRAC, O_CUTOFF,
       O_LAST_N, O_ZIPF, O_SIGMA, O_MEMBERS, O_TITLES, O_INTERACTIONS, O_LOG_FORMAT };
#define LOAD_OPTS {"format", required_argument, 0, O_FORMAT}, \
                  {"skip-bad-rows", no_argument, 0, O_SKIP_BAD}, \
                  {"help", no_argument, 0, 'h'}

/* Handles a loading option; returns -1 when c was one and is fine, an exit status on a bad
 * value, 0 when c is not a loading option. */
static int load_opt(const char *cmd, int c, const char *v, mq_load_opts *o)
{
    if (c == O_SKIP_BAD) { o->skip_bad_rows = true; return -1; }
    if (c != O_FORMAT) return 0;
    int f = mq_format_parse(v);
    if (f < 0) return mq_cli_usage_error(cmd, "unknown --format '%s'", v);
    o->format = f;
    return -1;
}

static void report_skipped(const mq_load_opts *o)
{
    if (!o->skip_bad_rows || o->n_bad_rows == 0) return;
    fprintf(stderr, "marquee data: skipped %lld bad row%s; the first:\n", (long long)o->n_bad_rows,
            o->n_bad_rows == 1 ? "" : "s");
    for (int i = 0; i < 5 && i < o->n_bad_rows; i++) fprintf(stderr, "  %s\n", o->first_bad[i]);
}

/* ---- import ---- */

static int cmd_import(int argc, char **argv)
{
    const char *cmd = "data import";
    static const struct option opts[] = {{"out", required_argument, 0, O_OUT},
                                         {"log-format", required_argument, 0, O_LOG_FORMAT}, LOAD_OPTS, {0, 0, 0, 0}};
    mq_load_opts o; mq_load_opts_init(&o, sizeof o);
    o.log = &mq_cli_log;
    const char *outp = NULL;
    int c, lr;
    while ((c = mq_cli_getopt(argc, argv, opts)) != -1) {
        if ((lr = load_opt(cmd, c, optarg, &o))) { if (lr > 0) return lr; continue; }
        if (c == O_OUT) outp = optarg;
        else if (c == O_LOG_FORMAT) { if (mq_cli_log_format(cmd, optarg)) return MQ_EXIT_USAGE; }
        else if (c == 'h') break;
        else return mq_cli_bad_option(cmd, argv, opts);
    }
    if (c == 'h') {
        printf("Usage: marquee data import FILE|DIR... --out catalog.mqd [options]\n\n"
               "Loads interaction files (and the catalog files beside them: movies.csv + tags.csv,\n"
               "u.item, movies.dat, artists.dat + tags) and writes a binary snapshot (checksummed,\n"
               "written atomically) that later commands load by mmap in milliseconds.\n\n"
               "Options:\n  --out FILE        the snapshot to write (required)\n"
               "  --log-format FMT  progress lines on stderr as text (default) or json\n%s", load_opts_help);
        return MQ_EXIT_OK;
    }
    const char *const *paths = (const char *const *)argv + optind;
    int np = argc - optind, rc = -1;
    if (np == 0) return mq_cli_usage_error(cmd, "name at least one input file or directory");
    if (!outp) return mq_cli_usage_error(cmd, "--out FILE is required");
    mq_err err = {0};
    mq_dataset *d;
    double t0 = mq_now();
    if (mq_data_load(paths, np, &o, &d, &err)) { report_skipped(&o); rc = mq_cli_fail(cmd, &err); goto out; }
    report_skipped(&o);
    double t1 = mq_now();
    if (mq_snapshot_save(d, outp, &err)) { mq_dataset_destroy(d); rc = mq_cli_fail(cmd, &err); goto out; }
    mq_cli_logf(MQ_CLI_INFO, "data: %s: %d members, %d titles, %lld interactions (load %.3f s, write %.3f s)",
                outp, d->n_members, d->n_titles, (long long)d->nnz, t1 - t0, mq_now() - t1);
    mq_dataset_destroy(d);
    rc = MQ_EXIT_OK;
out:
    return rc;
}

/* ---- stats ---- */

static int cmd_stats(int argc, char **argv)
{
    const char *cmd = "data stats";
    static const struct option opts[] = {{"json", no_argument, 0, O_JSON}, LOAD_OPTS, {0, 0, 0, 0}};
    mq_load_opts o; mq_load_opts_init(&o, sizeof o);
    bool json = false;
    int c, lr;
    while ((c = mq_cli_getopt(argc, argv, opts)) != -1) {
        if ((lr = load_opt(cmd, c, optarg, &o))) { if (lr > 0) return lr; continue; }
        if (c == O_JSON) json = true;
        else if (c == 'h') break;
        else return mq_cli_bad_option(cmd, argv, opts);
    }
    if (c == 'h') {
        printf("Usage: marquee data stats PATH [--json] [options]\n\n"
               "Prints members, titles (and titles with interactions), interactions, density, the\n"
               "share of interactions on the top 1%% most popular titles, member activity quantiles\n"
               "(min, 25%%, median, 75%%, max; linear interpolation) and mean, and the time range.\n\n"
               "Options:\n  --json            one JSON object instead of text\n%s", load_opts_help);
        return MQ_EXIT_OK;
    }
    if (argc - optind > 1) return mq_cli_usage_error(cmd, "one PATH only (got '%s' and '%s')", argv[optind], argv[optind + 1]);
    const char *path = optind < argc ? argv[optind] : NULL;
    if (!path) return mq_cli_usage_error(cmd, "name a PATH (snapshot, file or directory)");
    mq_err err = {0};
    mq_dataset *d;
    lr = mq_data_open(path, &o, &d, &err);
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
    static const struct option opts[] = {
        {"protocol", required_argument, 0, O_PROTOCOL}, {"write-split", required_argument, 0, O_WRITE_SPLIT},
        {"seed", required_argument, 0, O_SEED}, {"min-rating", required_argument, 0, O_MIN_RATING},
        {"min-positives", required_argument, 0, O_MIN_POS}, {"no-binarize", no_argument, 0, O_NO_BINARIZE},
        {"test-frac", required_argument, 0, O_TEST_FRAC}, {"val-frac", required_argument, 0, O_VAL_FRAC},
        {"in-frac", required_argument, 0, O_IN_FRAC}, {"cutoff", required_argument, 0, O_CUTOFF},
        {"last-n", required_argument, 0, O_LAST_N}, LOAD_OPTS, {0, 0, 0, 0}};
    mq_load_opts o; mq_load_opts_init(&o, sizeof o);
    mq_split_opts so; mq_split_opts_init(&so, sizeof so);
    so.protocol = -1; so.seed = 1; so.test_frac = 0.1; so.val_frac = 0.1; so.in_frac = 0.8;
    const char *path = NULL, *dir = NULL;
    double min_rating = 4;
    long long min_pos = 5;
    bool binarize = true;
    int c, lr;
    while ((c = mq_cli_getopt(argc, argv, opts)) != -1) {
        if ((lr = load_opt(cmd, c, optarg, &o))) { if (lr > 0) return lr; continue; }
        if (c == 'h') break;
        const char *v = optarg;
        double dv;
        long long lv;
        switch (c) {
        case O_NO_BINARIZE: binarize = false; break;
        case O_PROTOCOL:
            if (strcmp(v, "strong") == 0) so.protocol = MQ_SPLIT_STRONG;
            else if (strcmp(v, "temporal") == 0) so.protocol = MQ_SPLIT_TEMPORAL;
            else if (strcmp(v, "loo") == 0) so.protocol = MQ_SPLIT_LOO;
            else return mq_cli_usage_error(cmd, "--protocol must be strong, temporal or loo (got '%s')", v);
            break;
        case O_WRITE_SPLIT: dir = v; break;
        case O_SEED:
            if (mq_cli_parse_i64(v, &lv) || lv < 0) return mq_cli_usage_error(cmd, "--seed must be a non-negative integer (got '%s')", v);
            so.seed = (uint64_t)lv;
            break;
        case O_MIN_RATING:
            if (mq_cli_parse_double(v, &min_rating) || !(min_rating > 0)) return mq_cli_usage_error(cmd, "--min-rating must be a positive number (got '%s')", v);
            break;
        case O_MIN_POS:
            if (mq_cli_parse_i64(v, &min_pos) || min_pos < 0 || min_pos > 1000000) return mq_cli_usage_error(cmd, "--min-positives must be an integer >= 0 (got '%s')", v);
            break;
        case O_TEST_FRAC:
        case O_VAL_FRAC:
        case O_IN_FRAC:
            if (mq_cli_parse_double(v, &dv) || !(dv >= 0 && dv < 1))
                return mq_cli_usage_error(cmd, "--%s must be in [0, 1) (got '%s')",
                                          c == O_TEST_FRAC ? "test-frac" : c == O_VAL_FRAC ? "val-frac" : "in-frac", v);
            *(c == O_TEST_FRAC ? &so.test_frac : c == O_VAL_FRAC ? &so.val_frac : &so.in_frac) = dv;
            break;
        case O_CUTOFF:
            if (mq_cli_parse_i64(v, &lv) || lv <= 0) return mq_cli_usage_error(cmd, "--cutoff must be a positive unix time (got '%s')", v);
            so.cutoff = lv;
            break;
        case O_LAST_N:
            if (mq_cli_parse_i64(v, &lv) || lv < 1 || lv > 1000000) return mq_cli_usage_error(cmd, "--last-n must be an integer >= 1 (got '%s')", v);
            so.last_n = (int)lv;
            break;
        default: return mq_cli_bad_option(cmd, argv, opts);
        }
    }
    if (c == 'h') {
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
    if (argc - optind > 1) return mq_cli_usage_error(cmd, "one PATH only (got '%s' and '%s')", argv[optind], argv[optind + 1]);
    if (optind < argc) path = argv[optind];
    if (!path) return mq_cli_usage_error(cmd, "name a PATH (snapshot, file or directory)");
    if (so.protocol < 0) return mq_cli_usage_error(cmd, "--protocol strong|temporal|loo is required");
    if (!dir) return mq_cli_usage_error(cmd, "--write-split DIR is required");
    if (so.protocol == MQ_SPLIT_STRONG && so.in_frac <= 0) return mq_cli_usage_error(cmd, "--in-frac must be in (0, 1)");
    mq_err err = {0};
    mq_dataset *d, *b = NULL;
    lr = mq_data_open(path, &o, &d, &err);
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
    static const struct option opts[] = {
        {"out", required_argument, 0, O_OUT}, {"zipf", required_argument, 0, O_ZIPF},
        {"sigma", required_argument, 0, O_SIGMA}, {"members", required_argument, 0, O_MEMBERS},
        {"titles", required_argument, 0, O_TITLES}, {"interactions", required_argument, 0, O_INTERACTIONS},
        {"seed", required_argument, 0, O_SEED}, {"log-format", required_argument, 0, O_LOG_FORMAT},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    mq_synth_opts so; mq_synth_opts_init(&so, sizeof so);
    const char *outp = NULL;
    bool have[4] = {0};
    int c;
    while ((c = mq_cli_getopt(argc, argv, opts)) != -1) {
        const char *v = optarg;
        long long lv;
        double dv;
        if (c == 'h') break;
        if (c == O_OUT) { outp = v; continue; }
        if (c == O_LOG_FORMAT) {
            if (mq_cli_log_format(cmd, v)) return MQ_EXIT_USAGE;
            continue;
        }
        if (c == O_ZIPF || c == O_SIGMA) {
            if (mq_cli_parse_double(v, &dv) || !(dv > 0 && dv < 100))
                return mq_cli_usage_error(cmd, "--%s must be a positive number (got '%s')", c == O_ZIPF ? "zipf" : "sigma", v);
            if (c == O_ZIPF) so.zipf_s = dv; else so.activity_sigma = dv;
            continue;
        }
        int k = c == O_MEMBERS ? 0 : c == O_TITLES ? 1 : c == O_INTERACTIONS ? 2 : c == O_SEED ? 3 : -1;
        if (k < 0) return mq_cli_bad_option(cmd, argv, opts);
        static const char *const names[] = {"members", "titles", "interactions", "seed"};
        if (mq_cli_parse_i64(v, &lv) || lv < (k == 3 ? 0 : 1)) return mq_cli_usage_error(cmd, "--%s must be a positive integer (got '%s')", names[k], v);
        have[k] = true;
        if (k == 0) so.n_members = lv;
        else if (k == 1) so.n_titles = lv;
        else if (k == 2) so.n_interactions = lv;
        else so.seed = (uint64_t)lv;
    }
    if (c == 'h') {
        printf("Usage: marquee data synth --members N --titles M --interactions K --seed S --out FILE\n\n"
               "Writes synthetic implicit interactions as an events CSV (member,title,timestamp,event,\n"
               "value): Zipf-like title popularity, log-normal member activity, distinct titles per\n"
               "member, chronological per member. Streams in O(N + M) memory (100M+ interactions\n"
               "fine); written atomically. Deterministic from --seed.\n\n"
               "Options:\n"
               "  --zipf S     popularity exponent: P(rank r) ~ r^-S (default 1.0)\n"
               "  --sigma X    log-normal sigma of member activity (default 1.0)\n"
               "  --log-format FMT  progress lines on stderr as text (default) or json\n");
        return MQ_EXIT_OK;
    }
    if (optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
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
    static const char *const subs[] = {"import", "stats", "split", "synth"};
    const char *guess = mq_cli_suggest(sub, subs, 4);
    if (guess) return mq_cli_usage_error("data", "unknown subcommand '%s' (did you mean '%s'?)", sub, guess);
    return mq_cli_usage_error("data", "unknown subcommand '%s'", sub);
}
