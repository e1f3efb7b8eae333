/* absent.c: weak definitions for commands whose module is not part of this build; a module's
 * own src/cli/cmd_*.c replaces each one at link time. */
#include "cli.h"

static int absent(const char *name)
{
    fprintf(stderr, "marquee %s: this build does not include the '%s' command\n", name, name);
    return MQ_EXIT_FAIL;
}

__attribute__((weak)) int mq_cli_data(int c, char **v) { (void)c; (void)v; return absent("data"); }
__attribute__((weak)) int mq_cli_train(int c, char **v) { (void)c; (void)v; return absent("train"); }
__attribute__((weak)) int mq_cli_recommend(int c, char **v) { (void)c; (void)v; return absent("recommend"); }
__attribute__((weak)) int mq_cli_eval(int c, char **v) { (void)c; (void)v; return absent("eval"); }
__attribute__((weak)) int mq_cli_serve(int c, char **v) { (void)c; (void)v; return absent("serve"); }
__attribute__((weak)) int mq_cli_xp(int c, char **v) { (void)c; (void)v; return absent("xp"); }
__attribute__((weak)) int mq_cli_abr(int c, char **v) { (void)c; (void)v; return absent("abr"); }
