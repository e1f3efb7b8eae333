/* cmd_recommend.c: `marquee recommend`: top-n titles for one member from a model artifact.
 *
 * The member's history comes from --data (their positives in that data, matched to the model's
 * titles by external id) or from --history ID,ID,... (fold-in of a member the model never
 * saw). Filters: seen titles are excluded unless --include-seen; --exclude ID,...; --genre
 * NAME. --explain adds, per title, the history titles that contributed most. --similar ID
 * lists the titles most similar to one title instead. Output: a table, or JSON with --json:
 *   {"model": "ease", "member": "42", "history": 57, "items": [{"rank": 1, "title": "50",
 *    "name": "Star Wars", "score": 0.91, "because": [{"title": "172", "name": "...",
 *    "weight": 0.12}, ...]}, ...]}
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


static const char *usage_text =
    "usage: marquee recommend --model FILE --member ID --data PATH [options]\n"
    "       marquee recommend --model FILE --history ID,ID,... [options]\n"
    "       marquee recommend --model FILE --similar ID [options]\n"
    "\n"
    "Recommends titles for one member from a model written by `marquee train`.\n"
    "\n"
    "  --model FILE         the model artifact\n"
    "  --member ID          the member (their history is read from --data)\n"
    "  --data PATH          interactions holding the member's history (as for train)\n"
    "  --history IDS        comma-separated title ids: the history of a new member (fold-in);\n"
    "                       with --member, replaces the history from --data\n"
    "  -n N                 how many titles (default 20)\n"
    "  --explain            list, per title, the watched titles that contributed most\n"
    "  --exclude IDS        comma-separated title ids never to recommend\n"
    "  --genre NAME         only titles of this catalog genre\n"
    "  --include-seen       allow titles of the history\n"
    "  --similar ID         titles most similar to title ID instead of recommendations\n"
    "  --min-rating R|none  positives in --data (default: 4 for explicit ratings, else all)\n"
    "  --format NAME        format of --data (default auto)\n"
    "  --json               one JSON object on stdout\n";

/* Strings through the core JSON escaper (valid UTF-8 always). */
static void json_str(const char *s) { mq_json_write_str(stdout, s ? s : ""); }

static void json_num(double x)
{
    if (isfinite(x)) printf("%.9g", x);
    else fputs("null", stdout);
}

/* Splits "a,b,c" and maps each id to a model title index; unknown ids are an error. */
static int parse_ids(const char *cmd, const char *opt, const mq_model *m, const char *list,
                     int32_t **out, int *n_out)
{
    char *copy = strdup(list);
    int cap = 1;
    for (const char *p = list; *p; p++) cap += *p == ',';
    int32_t *v = malloc((size_t)cap * sizeof *v);
    if (!copy || !v) {
        free(copy);
        free(v);
        fprintf(stderr, "marquee %s: out of memory\n", cmd);
        return MQ_EXIT_FAIL;
    }
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!*tok) continue;
        int32_t t = mq_model_title_index(m, tok);
        if (t < 0) {
            int rc = mq_cli_usage_error(cmd, "%s: title '%s' is not in the model's catalog", opt, tok);
            free(copy);
            free(v);
            return rc;
        }
        bool dup = false;
        for (int i = 0; i < n; i++) dup |= v[i] == t;
        if (!dup) v[n++] = t;
    }
    free(copy);
    *out = v;
    *n_out = n;
    return 0;
}

static const char *title_name(const mq_model *m, int32_t t)
{
    const mq_catalog *c = mq_model_catalog(m);
    return c->names && c->names[t] ? c->names[t] : NULL;
}

/* Prints `"title": "<id>", "name": "<name>"|null, "<key>": <value>` for title t. */
static void json_title_fields(const mq_model *m, int32_t t, const char *key, double value)
{
    printf("\"title\": ");
    json_str(mq_model_title_id(m, t));
    printf(", \"name\": ");
    if (title_name(m, t)) json_str(title_name(m, t));
    else printf("null");
    printf(", \"%s\": ", key);
    json_num(value);
}

/* The options, parsed and checked before the model or any data is read. */
typedef struct rec_args {
    const char *model_path, *member, *data, *history;
    const char *exclude, *genre, *similar, *min_rating, *format;
    bool explain, json, include_seen;
    long long n;
} rec_args;

/* Fills a from argv; returns -1 to go on, or an exit status (help, usage error). */
static int parse_args(const char *cmd, int argc, char **argv, rec_args *a)
{
    memset(a, 0, sizeof *a);
    a->n = 20;
    enum {
        O_MODEL = MQ_CLI_OPT, O_MEMBER, O_DATA, O_HISTORY, O_N, O_EXPLAIN, O_EXCLUDE, O_GENRE,
        O_INCLUDE_SEEN, O_SIMILAR, O_MIN_RATING, O_FORMAT, O_JSON,
    };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},
        {"member", required_argument, 0, O_MEMBER},
        {"data", required_argument, 0, O_DATA},
        {"history", required_argument, 0, O_HISTORY},
        {"n", required_argument, 0, O_N},
        {"explain", no_argument, 0, O_EXPLAIN},
        {"exclude", required_argument, 0, O_EXCLUDE},
        {"genre", required_argument, 0, O_GENRE},
        {"include-seen", no_argument, 0, O_INCLUDE_SEEN},
        {"similar", required_argument, 0, O_SIMILAR},
        {"min-rating", required_argument, 0, O_MIN_RATING},
        {"format", required_argument, 0, O_FORMAT},
        {"json", no_argument, 0, O_JSON},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int opt;
    while ((opt = mq_cli_getopt(argc, argv, opts)) != -1) {
        const char *v = optarg;
        switch (opt) {
        case 'h': fputs(usage_text, stdout); return MQ_EXIT_OK;
        case O_MODEL: a->model_path = v; break;
        case O_MEMBER: a->member = v; break;
        case O_DATA: a->data = v; break;
        case O_HISTORY: a->history = v; break;
        case O_EXCLUDE: a->exclude = v; break;
        case O_GENRE: a->genre = v; break;
        case O_SIMILAR: a->similar = v; break;
        case O_MIN_RATING: a->min_rating = v; break;
        case O_FORMAT: a->format = v; break;
        case O_EXPLAIN: a->explain = true; break;
        case O_JSON: a->json = true; break;
        case O_INCLUDE_SEEN: a->include_seen = true; break;
        case O_N:
            if (mq_cli_parse_i64(v, &a->n) || a->n < 1 || a->n > 100000)
                return mq_cli_usage_error(cmd, "-n: '%s' is not an integer in [1, 100000]", v);
            break;
        default: return mq_cli_bad_option(cmd, argv, opts);
        }
    }
    if (optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!a->model_path) return mq_cli_usage_error(cmd, "--model FILE is required");
    if (!a->similar && !a->member && !a->history)
        return mq_cli_usage_error(cmd, "give --member ID with --data PATH, or --history IDS");
    if (a->member && !a->data && !a->history)
        return mq_cli_usage_error(cmd, "--member needs --data PATH (where the member's history "
                                  "is) or --history IDS");
    if (a->format && mq_format_parse(a->format) < 0)
        return mq_cli_usage_error(cmd, "--format: unknown format '%s'", a->format);
    return -1;
}

int mq_cli_recommend(int argc, char **argv)
{
    const char *cmd = "recommend";
    rec_args a;
    int pr = parse_args(cmd, argc, argv, &a);
    if (pr >= 0) return pr;
    const char *model_path = a.model_path, *member = a.member, *data = a.data, *history = a.history;
    const char *exclude = a.exclude, *genre = a.genre, *similar = a.similar, *min_rating = a.min_rating;
    const char *format = a.format;
    bool explain = a.explain, json = a.json, include_seen = a.include_seen;
    long long n = a.n;
    mq_err err = {0};
    mq_model *m = NULL;
    if (mq_model_load(model_path, &m, &err)) return mq_cli_fail(cmd, &err);
    int rc = MQ_EXIT_FAIL;
    int32_t *hist = NULL, *ex = NULL, *out = NULL, *because = NULL;
    mq_dataset *raw = NULL;
    float *scores = NULL, *weights = NULL;
    int n_hist = 0, n_ex = 0, unknown = 0;
    mq_dataset *d = NULL;
    mq_filter f; mq_filter_init(&f, sizeof f);
    f.include_seen = include_seen; f.genre = -1;
    const mq_catalog *cat = mq_model_catalog(m);

    if (genre) {
        for (int g = 0; g < cat->n_genres; g++)
            if (cat->genre_names[g] && strcasecmp(cat->genre_names[g], genre) == 0) f.genre = g;
        if (f.genre < 0) {
            fprintf(stderr, "marquee %s: --genre: '%s' is not a genre of this model's catalog (", cmd, genre);
            for (int g = 0; g < cat->n_genres; g++) fprintf(stderr, "%s%s", g ? ", " : "", cat->genre_names[g]);
            fprintf(stderr, "%s)\n", cat->n_genres ? "" : "it has none");
            rc = MQ_EXIT_USAGE;
            goto done;
        }
    }
    if (exclude && (rc = parse_ids(cmd, "--exclude", m, exclude, &ex, &n_ex))) goto done;
    f.exclude = ex;
    f.n_exclude = n_ex;
    rc = MQ_EXIT_FAIL;

    out = malloc((size_t)n * sizeof *out);
    scores = malloc((size_t)n * sizeof *scores);
    because = malloc(5 * sizeof *because);
    weights = malloc(5 * sizeof *weights);
    if (!out || !scores || !because || !weights) {
        fprintf(stderr, "marquee %s: out of memory\n", cmd);
        goto done;
    }

    if (similar) {
        int32_t t = mq_model_title_index(m, similar);
        if (t < 0) {
            rc = mq_cli_usage_error(cmd, "--similar: title '%s' is not in the model's catalog", similar);
            goto done;
        }
        int c = mq_model_similar(m, t, (int)n, out, scores, &err);
        if (c < 0) {
            rc = mq_cli_fail(cmd, &err);
            goto done;
        }
        if (json) {
            printf("{\"model\": ");
            json_str(mq_model_kind(m));
            printf(", \"similar_to\": ");
            json_str(similar);
            printf(", \"items\": [");
            for (int i = 0; i < c; i++) {
                printf("%s{\"rank\": %d, ", i ? ", " : "", i + 1);
                json_title_fields(m, out[i], "score", scores[i]);
                printf("}");
            }
            printf("]}\n");
        } else {
            for (int i = 0; i < c; i++)
                printf("%3d  %-12s %10.5f  %s\n", i + 1, mq_model_title_id(m, out[i]), scores[i],
                       title_name(m, out[i]) ? title_name(m, out[i]) : "");
        }
        rc = MQ_EXIT_OK;
        goto done;
    }

    if (history) {
        if ((rc = parse_ids(cmd, "--history", m, history, &hist, &n_hist))) goto done;
        rc = MQ_EXIT_FAIL;
    } else {
        if ((rc = mq__cli_load_positives(cmd, data, NULL, format, min_rating, 1, &d, &raw)))
            goto done;
        rc = MQ_EXIT_FAIL;
        /* Titles the member watched but did not like enough to count as positives (a 3-star
         * rating) are not history for the model, but they are seen: never recommend them. */
        int32_t *seen = NULL;
        int n_seen = 0;
        int hrc = mq_model_member_history(m, d, include_seen ? NULL : raw, member, &hist, &n_hist,
                                          &seen, &n_seen, &unknown, &err);
        if (hrc == MQ_ENOTFOUND) {
            fprintf(stderr, "marquee %s: member '%s' has no positives in %s\n", cmd, member, data);
            goto done;
        }
        if (hrc) {
            rc = mq_cli_fail(cmd, &err);
            goto done;
        }
        if (unknown)
            mq_cli_logf(MQ_CLI_WARN, "%d of the member's titles are not in the model (ignored)", unknown);
        if (n_seen) {
            int32_t *ex2 = realloc(ex, ((size_t)n_ex + (size_t)n_seen) * sizeof *ex2);
            if (!ex2) {
                free(seen);
                goto done;
            }
            ex = ex2;
            memcpy(ex + n_ex, seen, (size_t)n_seen * sizeof *ex);
            n_ex += n_seen;
            f.exclude = ex;
            f.n_exclude = n_ex;
        }
        free(seen);
    }
    int c = mq_model_recommend(m, hist, NULL, n_hist, &f, (int)n, out, scores, &err);
    if (c < 0) {
        rc = mq_cli_fail(cmd, &err);
        goto done;
    }
    if (json) {
        printf("{\"model\": ");
        json_str(mq_model_kind(m));
        printf(", \"member\": ");
        if (member) json_str(member);
        else printf("null");
        printf(", \"history\": %d, \"items\": [", n_hist);
    }
    for (int i = 0; i < c; i++) {
        int nb = 0;
        if (explain) {
            nb = mq_model_explain(m, hist, NULL, n_hist, out[i], 5, because, weights, &err);
            if (nb == MQ_EUNSUP) nb = 0;
            else if (nb < 0) {
                rc = mq_cli_fail(cmd, &err);
                goto done;
            }
        }
        const char *name = title_name(m, out[i]);
        if (json) {
            printf("%s{\"rank\": %d, ", i ? ", " : "", i + 1);
            json_title_fields(m, out[i], "score", scores[i]);
            if (explain) {
                printf(", \"because\": [");
                for (int j = 0; j < nb; j++) {
                    printf("%s{", j ? ", " : "");
                    json_title_fields(m, because[j], "weight", weights[j]);
                    printf("}");
                }
                printf("]");
            }
            printf("}");
        } else {
            printf("%3d  %-12s %10.5f  %s\n", i + 1, mq_model_title_id(m, out[i]), scores[i],
                   name ? name : "");
            for (int j = 0; j < nb; j++) {
                const char *bn = title_name(m, because[j]);
                printf("       because %-12s %+.4f  %s\n", mq_model_title_id(m, because[j]),
                       weights[j], bn ? bn : "");
            }
        }
    }
    if (json) printf("]}\n");
    rc = MQ_EXIT_OK;
done:
    free(hist);
    free(ex);
    mq_dataset_destroy(raw);
    free(out);
    free(scores);
    free(because);
    free(weights);
    mq_dataset_destroy(d);
    mq_model_destroy(m);
    return rc;
}
