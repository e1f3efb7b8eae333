/* main.c: `marquee <command> ...` dispatch, top-level help and the shared CLI helpers. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
    {"train", mq_cli_train, "train a candidate model (the kinds are listed below)"},
    {"recommend", mq_cli_recommend, "top titles for a member from a saved model"},
    {"eval", mq_cli_eval, "offline evaluation: strong / temporal / leave-one-out protocols"},
    {"serve", mq_cli_serve, "serve homepages, events and recommendations over HTTP"},
    {"xp", mq_cli_xp, "A/B tests: assignment, analysis, sample-size design"},
    {"abr", mq_cli_abr, "adaptive-bitrate streaming simulator on network traces"},
    {"bandit", mq_cli_bandit, "contextual bandits: off-policy evaluation, synthetic logs, replay"},
    {"sim", mq_cli_sim, "member simulator: A/B estimates beside the counterfactual truth"},
    {"models", mq_cli_models, "install a model file into a serving models directory atomically"},
};

static void usage(FILE *f)
{
    fprintf(f, "marquee %s: a personalization engine: events in, models, homepages, A/B tests.\n\n"
               "Usage: marquee <command> [options]\n\nCommands:\n", MQ_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nModels: %s.\n", mq_model_kinds_text());
    fprintf(f, "\nRun 'marquee help <command>' (or 'marquee <command> --help') for a command's options;\n"
               "'marquee --version' prints the version.\n"
               "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* "unknown command 'evl' (did you mean 'eval'?)" and the usage, exit 2. */
static int unknown_command(const char *name)
{
    const char *names[N_COMMANDS];
    for (size_t i = 0; i < N_COMMANDS; i++) names[i] = commands[i].name;
    const char *s = mq_cli_suggest(name, names, (int)N_COMMANDS);
    if (s) fprintf(stderr, "marquee: unknown command '%s' (did you mean '%s'?)\n\n", name, s);
    else fprintf(stderr, "marquee: unknown command '%s'\n\n", name);
    usage(stderr);
    return MQ_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return MQ_EXIT_USAGE; }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("marquee %s\n", MQ_VERSION);
        return MQ_EXIT_OK;
    }
    if (mq_cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        if (argc < 3 || mq_cli_is_help(argv[1])) { usage(stdout); return MQ_EXIT_OK; }
        /* marquee help CMD [SUB]: the command's own --help */
        for (size_t i = 0; i < N_COMMANDS; i++)
            if (strcmp(argv[2], commands[i].name) == 0) {
                char *sub[4] = {argv[2], argc > 3 ? argv[3] : "--help", "--help", NULL};
                return commands[i].fn(argc > 3 ? 3 : 2, sub);
            }
        return unknown_command(argv[2]);
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    if (argv[1][0] == '-') {
        static const char *const top[] = {"--help", "--version"};
        const char *s = mq_cli_suggest(argv[1], top, 2);
        fprintf(stderr, "marquee: unknown option '%s'%s%s%s\n\n", argv[1], s ? " (did you mean '" : "",
                s ? s : "", s ? "'?)" : "");
        usage(stderr);
        return MQ_EXIT_USAGE;
    }
    return unknown_command(argv[1]);
}
