/* main.c: `marquee <command> ...` dispatch, top-level help and the shared CLI helpers. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void log_stderr(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "marquee: %s\n", line);
}

const mq_log mq_cli_log = {log_stderr, NULL};

int mq_cli_fail(const char *cmd, const mq_err *err)
{
    fprintf(stderr, "marquee %s: %s\n", cmd, err->msg[0] ? err->msg : mq_strerror(err->code));
    return MQ_EXIT_FAIL;
}

int mq_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "marquee %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'marquee %s --help'.\n", cmd);
    return MQ_EXIT_USAGE;
}

int mq_cli_is_help(const char *s) { return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0; }

int mq_cli_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE) return -1;
    *out = v;
    return 0;
}

int mq_cli_parse_i64(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno == ERANGE) return -1;
    *out = v;
    return 0;
}

typedef struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command commands[] = {
    {"data", mq_cli_data, "import, inspect, split and synthesize interaction data"},
    {"train", mq_cli_train, "train a candidate model (pop, trending, itemknn, ease, dlae, ials, content, hybrid)"},
    {"recommend", mq_cli_recommend, "top titles for a member from a saved model"},
    {"eval", mq_cli_eval, "offline evaluation: strong / temporal / leave-one-out protocols"},
    {"serve", mq_cli_serve, "serve homepages, events and recommendations over HTTP"},
    {"xp", mq_cli_xp, "A/B tests: assignment, analysis, sample-size design"},
    {"abr", mq_cli_abr, "adaptive-bitrate streaming simulator on network traces"},
    {"models", mq_cli_models, "install a model file into a serving models directory atomically"},
};

static void usage(FILE *f)
{
    fprintf(f, "marquee %s: a personalization engine: events in, models, homepages, A/B tests.\n\n"
               "Usage: marquee <command> [options]\n\nCommands:\n", MQ_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'marquee <command> --help' for a command's options.\n"
               "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return MQ_EXIT_USAGE; }
    if (mq_cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) { usage(stdout); return MQ_EXIT_OK; }
    if (strcmp(argv[1], "--version") == 0) { printf("marquee %s\n", MQ_VERSION); return MQ_EXIT_OK; }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "marquee: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return MQ_EXIT_USAGE;
}
