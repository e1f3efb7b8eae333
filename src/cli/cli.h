/* cli.h: what the marquee subcommands share. The CLI is a thin client of marquee.h: it parses
 * arguments, calls the library, prints data to stdout and progress/errors to stderr, and is
 * the only code that chooses an exit status: 0 ok, 1 failure, 2 usage. */
#ifndef MQ_CLI_H
#define MQ_CLI_H

#include "marquee.h"

#include <getopt.h>

#define MQ_EXIT_OK 0
#define MQ_EXIT_FAIL 1
#define MQ_EXIT_USAGE 2

/* One function per top-level command; argv[0] is the command name ("data", "xp", ...). */
int mq_cli_data(int argc, char **argv);
int mq_cli_train(int argc, char **argv);
int mq_cli_sim(int argc, char **argv);
int mq_cli_recommend(int argc, char **argv);
int mq_cli_eval(int argc, char **argv);
int mq_cli_serve(int argc, char **argv);
int mq_cli_xp(int argc, char **argv);
int mq_cli_xp_collect(int argc, char **argv);     /* cmd_xp_collect.c */
int mq_cli_abr(int argc, char **argv);
int mq_cli_bandit(int argc, char **argv);
int mq_cli_models(int argc, char **argv);

/* ---- logging (log.c) ----
 * One logging callback for every command. Each line carries a UTC timestamp and a level:
 *   text (default): "2026-12-06T04:33:00.123Z info marquee: <line>"
 *   json:           {"ts": "2026-12-06T04:33:00.123Z", "level": "info", "msg": "<line>"}
 * (one object per line, strings through the core JSON escaper). Library lines that start
 * with "warning: " or "error: " take that level, the others are info. */
extern const mq_log mq_cli_log;
typedef enum { MQ_CLI_INFO, MQ_CLI_WARN, MQ_CLI_ERROR } mq_cli_level;
/* Selects the format from a --log-format value ("text" or "json"): 0, or prints the usage error
 * (with a suggestion) and returns MQ_EXIT_USAGE. */
int mq_cli_log_format(const char *cmd, const char *value);
/* A printf-formatted log line at a level, through the same callback's format. */
void mq_cli_logf(mq_cli_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- options (opts.c) ----
 * Commands parse with getopt_long(_only): "--name value" and "--name=value" alike, long options
 * only (plus -h; "-name" also works). The pattern:
 *     optind = 0;   (mq_cli_getopt does it on its first call for argv)
 *     while ((c = mq_cli_getopt(argc, argv, opts)) != -1) switch (c) { ...
 *         case '?': return mq_cli_bad_option(cmd, argv, opts); }
 * Values of the option table's val field: 'h' for --help, and MQ_CLI_OPT + n for the rest. */
#define MQ_CLI_OPT 256
/* getopt_long_only with optstring ":h" and opterr 0; resets getopt when argv changes. Returns the
 * val of the option, -1 at the end, '?' for an unknown option or a missing value. */
int mq_cli_getopt(int argc, char **argv, const struct option *opts);
/* After mq_cli_getopt returned '?': prints "unknown option '--modle' (did you mean
 * '--model'?)" or "option '--model' needs a value" with the --help hint; returns
 * MQ_EXIT_USAGE. */
int mq_cli_bad_option(const char *cmd, char **argv, const struct option *opts);
/* "Did you mean": the candidate nearest to word by edit distance (Damerau-Levenshtein, optimal
 * string alignment; case-insensitive), if its distance is at most max(1, strlen(word) / 3) and
 * it is not word itself; NULL otherwise. Ties keep the earlier candidate. */
const char *mq_cli_suggest(const char *word, const char *const *cands, int n);
/* Edit distance between a and b (as above), capped at 255. */
int mq_cli_edit_distance(const char *a, const char *b);
/* Checks a model kind before any data is loaded: 0 when known, else prints "unknown model
 * 'eas' (did you mean 'ease'?; valid: ...)" as a usage error and returns MQ_EXIT_USAGE. what
 * names the option ("--model"). */
int mq_cli_check_model(const char *cmd, const char *what, const char *kind);
/* Prints "marquee <cmd>: <message>" to stderr and returns MQ_EXIT_FAIL. */
int mq_cli_fail(const char *cmd, const mq_err *err);
/* Prints "marquee <cmd>: <printf message>\nTry 'marquee <cmd> --help'." and returns
 * MQ_EXIT_USAGE. */
int mq_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Is s "-h" or "--help"? */
int mq_cli_is_help(const char *s);
/* Parses a whole decimal/float argument; returns 0 or -1 when s is not entirely a number. */
int mq_cli_parse_double(const char *s, double *out);
int mq_cli_parse_i64(const char *s, long long *out);

/* Loads PATH (data files, a folder or a snapshot; NULL for none) and/or an event log directory
 * written by `marquee serve` (NULL for none), and returns their positives together: explicit
 * ratings >= min_rating (default 4; "none" keeps every interaction), implicit events with a
 * positive strength; members with fewer than min_pos positives dropped. raw_out (optional)
 * receives PATH's dataset as loaded, every interaction included. Prints its own errors and
 * returns an exit status (0 on success). cmd_train.c. */
int mq__cli_load_positives(const char *cmd, const char *path, const char *events_dir,
                           const char *format, const char *min_rating, long long min_pos,
                           mq_dataset **out, mq_dataset **raw_out);

#endif
