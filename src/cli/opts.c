/* opts.c: option parsing helpers shared by the commands: getopt_long with the project's error
 * messages, and "did you mean" suggestions for misspelt commands, options and model names.
 *
 * Suggestions use the optimal-string-alignment edit distance (Levenshtein plus adjacent
 * transpositions, "modle" -> "model" is 1), case-insensitive, and propose the nearest
 * candidate only when it is within max(1, len/3) edits: close enough to be a typo, far enough
 * that unrelated words get no suggestion. */
#include "cli.h"

#include <ctype.h>
#include <string.h>

int mq_cli_edit_distance(const char *a, const char *b)
{
    enum { CAP = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= CAP || lb >= CAP) return la > lb ? (int)(la - lb) + 32 : (int)(lb - la) + 32;
    unsigned char d[CAP][CAP];
    for (size_t i = 0; i <= la; i++) d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = (unsigned char)best;
        }
    return d[la][lb];
}

const char *mq_cli_suggest(const char *word, const char *const *cands, int n)
{
    int limit = (int)strlen(word) / 3;
    if (limit < 1) limit = 1;
    const char *best = NULL;
    int best_d = limit + 1;
    for (int i = 0; i < n; i++) {
        if (!cands[i] || strcmp(cands[i], word) == 0) continue;
        int d = mq_cli_edit_distance(word, cands[i]);
        if (d < best_d) best_d = d, best = cands[i];
    }
    return best;
}

static char **last_argv;

int mq_cli_getopt(int argc, char **argv, const struct option *opts)
{
    if (argv != last_argv) {   /* a new argument vector: restart getopt from scratch */
        last_argv = argv;
        optind = 0;
    }
    opterr = 0;
    /* getopt_long_only: a single-dash "-model" is taken as --model, and an unknown option
     * always advances optind, so argv[optind - 1] is the offending word. */
    int c = getopt_long_only(argc, argv, ":h", opts, NULL);
    return c == ':' ? '?' : c;
}

int mq_cli_bad_option(const char *cmd, char **argv, const struct option *opts)
{
    const char *tok = argv[optind - 1];
    /* A long option: "--name" or "--name=value". A missing value: the name is known. */
    char name[128];
    snprintf(name, sizeof name, "%s", tok + (strncmp(tok, "--", 2) == 0 ? 2 : tok[0] == '-'));
    char *eq = strchr(name, '=');
    if (eq) *eq = 0;
    const char *cands[128];
    int n = 0;
    for (const struct option *o = opts; o->name && n < 128; o++) {
        if (strcmp(o->name, name) == 0) {
            if (o->has_arg == required_argument)
                return mq_cli_usage_error(cmd, "option '--%s' needs a value", name);
            return mq_cli_usage_error(cmd, "option '--%s' takes no value", name);
        }
        cands[n++] = o->name;
    }
    /* An ambiguous prefix ("--mod" of --model and --models) */
    int n_prefix = 0;
    for (int i = 0; i < n; i++) n_prefix += strncmp(cands[i], name, strlen(name)) == 0;
    if (n_prefix > 1) return mq_cli_usage_error(cmd, "option '%s' is ambiguous", tok);
    const char *s = mq_cli_suggest(name, cands, n);
    if (s) return mq_cli_usage_error(cmd, "unknown option '%s' (did you mean '--%s'?)", tok, s);
    return mq_cli_usage_error(cmd, "unknown option '%s'", tok);
}

int mq_cli_check_model(const char *cmd, const char *what, const char *kind)
{
    if (mq_model_kind_valid(kind)) return 0;
    const char *const *names = mq_model_kinds();
    int n = 0;
    while (names[n]) n++;
    const char *s = mq_cli_suggest(kind, names, n);
    if (s)
        return mq_cli_usage_error(cmd, "%s: unknown model '%s' (did you mean '%s'? valid: %s)",
                                  what, kind, s, mq_model_kinds_text());
    return mq_cli_usage_error(cmd, "%s: unknown model '%s' (valid: %s)", what, kind,
                              mq_model_kinds_text());
}
