/* cli.h: what the marquee subcommands share. The CLI is a thin client of marquee.h: it parses
 * arguments, calls the library, prints data to stdout and progress/errors to stderr, and is
 * the only code that chooses an exit status: 0 ok, 1 failure, 2 usage. */
#ifndef MQ_CLI_H
#define MQ_CLI_H

#include "marquee.h"

#define MQ_EXIT_OK 0
#define MQ_EXIT_FAIL 1
#define MQ_EXIT_USAGE 2

/* One function per top-level command; argv[0] is the command name ("data", "xp", ...). */
int mq_cli_data(int argc, char **argv);
int mq_cli_train(int argc, char **argv);
int mq_cli_recommend(int argc, char **argv);
int mq_cli_eval(int argc, char **argv);
int mq_cli_serve(int argc, char **argv);
int mq_cli_xp(int argc, char **argv);
int mq_cli_abr(int argc, char **argv);
int mq_cli_models(int argc, char **argv);

/* A logger that writes "marquee: <line>" to stderr. */
extern const mq_log mq_cli_log;
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
