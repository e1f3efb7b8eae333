/* cmd_xp_collect.c: `marquee xp collect`: unit metrics of an online experiment from the
 * server's event and exposure logs (mq_xp_collect), a CSV for `marquee xp analyze`. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *USAGE_COLLECT =
    "usage: marquee xp collect --log DIR [--experiment NAME] [--from T] [--to T] [--pre-days 14]\n"
    "                          [--finish-seconds 5400] --out FILE.csv\n"
    "Reads DIR/events and DIR/exposures (the server's models directory; or name them with\n"
    "--events DIR --exposures DIR) and writes one row per (member, experiment) exposed at least\n"
    "once, pages forced with ?xp= left out, sorted by first exposure then unit, counting events\n"
    "at or after the second of the member's first exposure. T: unix seconds or YYYY-MM-DD[THH:MM:SSZ]\n"
    "(UTC). Columns: unit,variant,first_exposure,pages,plays,play_seconds,finishes,\n"
    "distinct_titles,active_days,plays_from_pages,pre_plays,pre_play_seconds,range,served_share\n"
    "(docs/xp.md); after the units, the members of a ramped or stopped variant's range served only\n"
    "the default, with an empty variant and no metrics (for the SRM check: docs/xp.md).\n"
    "--out - writes to stdout. Then: marquee xp analyze FILE.csv --metric play_seconds\n"
    "  --covariate pre_play_seconds --control A\n";

static int parse_when(const char *s, long long *out)
{
    if (mq_cli_parse_i64(s, out) == 0) return 0;
    int64_t t;
    if (mq_time_parse(s, &t)) return -1;
    *out = (long long)t;
    return 0;
}

int mq_cli_xp_collect(int argc, char **argv)
{
    const char *cmd = "xp collect", *log = NULL, *events = NULL, *exposures = NULL, *out = NULL;
    mq_xp_collect_opts o; mq_xp_collect_opts_init(&o, sizeof o);
    o.pre_days = 14;
    o.finish_seconds = 5400;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mq_cli_is_help(a)) { fputs(USAGE_COLLECT, stdout); return MQ_EXIT_OK; }
        if (i + 1 >= argc) return mq_cli_usage_error(cmd, "'%s' needs a value (or is unknown)", a);
        const char *v = argv[++i];
        long long x;
        double d;
        if (!strcmp(a, "--log")) log = v;
        else if (!strcmp(a, "--events")) events = v;
        else if (!strcmp(a, "--exposures")) exposures = v;
        else if (!strcmp(a, "--experiment")) o.experiment = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--from") || !strcmp(a, "--to")) {
            if (parse_when(v, &x)) return mq_cli_usage_error(cmd, "%s: '%s' is not unix seconds or YYYY-MM-DD[THH:MM:SSZ]", a, v);
            if (!strcmp(a, "--from")) o.from = x; else o.to = x;
        } else if (!strcmp(a, "--pre-days")) {
            if (mq_cli_parse_i64(v, &x) || x < 0 || x > 3650) return mq_cli_usage_error(cmd, "--pre-days: '%s' is not in [0, 3650]", v);
            o.pre_days = (int)x;
        } else if (!strcmp(a, "--finish-seconds")) {
            if (mq_cli_parse_double(v, &d) || !(d > 0)) return mq_cli_usage_error(cmd, "--finish-seconds: '%s' is not a positive number", v);
            o.finish_seconds = d;
        } else return mq_cli_usage_error(cmd, "unknown option '%s'", a);
    }
    if (!out) return mq_cli_usage_error(cmd, "--out FILE.csv is required");
    if (!log && (!events || !exposures)) return mq_cli_usage_error(cmd, "give --log DIR, or both --events DIR and --exposures DIR");
    char ev[4200], ex[4200];
    snprintf(ev, sizeof ev, "%s/events", log ? log : "");
    snprintf(ex, sizeof ex, "%s/exposures", log ? log : "");
    o.events = events ? events : ev;
    o.exposures = exposures ? exposures : ex;
    if (o.from && o.to && o.to <= o.from) return mq_cli_usage_error(cmd, "--to is not after --from");
    mq_err err = {0, ""};
    int64_t n = 0;
    if (mq_xp_collect(&o, out, &n, &err)) return mq_cli_fail(cmd, &err);
    if (strcmp(out, "-")) fprintf(stderr, "marquee xp collect: %lld units written to %s\n", (long long)n, out);
    return MQ_EXIT_OK;
}
