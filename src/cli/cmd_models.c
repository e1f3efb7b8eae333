/* cmd_models.c: `marquee models install FILE DIR`: puts a model file into a serving models
 * directory atomically.
 *
 * Copying a model over the file a server loaded (cp other.mqm models/main.mqm) rewrites it in
 * place; a server that mapped the file used to die of SIGBUS. Servers now load a private copy,
 * but a reload that reads a half-copied file still fails, and a crash mid-copy leaves a broken
 * file. install checks FILE completely (header, section table, every section's CRC-32C) by
 * loading it, then writes it beside its destination, fsyncs it, renames it over the old one and
 * fsyncs the directory (mq_model_save): a reader sees the old model or the new one, never a
 * mixture, and a crash leaves one of the two. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *usage_text =
    "Usage: marquee models install [--as NAME] FILE DIR\n"
    "\n"
    "Checks the model file FILE (every section's checksum) and installs it into the models\n"
    "directory DIR atomically (temporary file, fsync, rename, directory fsync), as DIR/NAME\n"
    "(default: FILE's own name, e.g. main.mqm). A running `marquee serve --models DIR` keeps\n"
    "serving its loaded model until it is reloaded (SIGHUP or POST /v1/admin/reload).\n"
    "\n"
    "Options:\n"
    "  --as NAME   the file name in DIR: main.mqm, pop.mqm or trending.mqm for the server\n";

static int install(int argc, char **argv)
{
    const char *as = NULL;
    static const struct option longopts[] = {
        {"as", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': as = optarg; break;
        case 'h': fputs(usage_text, stdout); return MQ_EXIT_OK;
        default:
            return mq_cli_usage_error("models", "install: unknown or incomplete option '%s'",
                                      argv[optind - 1]);
        }
    }
    if (argc - optind != 2) return mq_cli_usage_error("models", "install: expected FILE DIR");
    const char *file = argv[optind], *dir = argv[optind + 1];
    if (!as) {
        as = strrchr(file, '/');
        as = as ? as + 1 : file;
    }
    if (!*as || strchr(as, '/') || !strcmp(as, ".") || !strcmp(as, ".."))
        return mq_cli_usage_error("models", "install: --as '%s' must be a plain file name", as);
    struct stat sb;
    errno = 0;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "marquee models: install: '%s' is not a directory%s%s\n", dir,
                errno ? ": " : "", errno ? strerror(errno) : "");
        return MQ_EXIT_FAIL;
    }
    mq_err err = {0, ""};
    mq_model *m = NULL;
    if (mq_model_load(file, &m, &err)) return mq_cli_fail("models", &err);
    char dst[8192];
    snprintf(dst, sizeof dst, "%s/%s", dir, as);
    int rc = mq_model_save(m, dst, &err);
    if (rc) {
        mq_model_destroy(m);
        return mq_cli_fail("models", &err);
    }
    printf("installed %s (%s, %d titles); reload a running server with SIGHUP or "
           "POST /v1/admin/reload\n", dst, mq_model_kind(m), mq_model_n_titles(m));
    mq_model_destroy(m);
    return MQ_EXIT_OK;
}

int mq_cli_models(int argc, char **argv)
{
    if (argc < 2 || mq_cli_is_help(argv[1])) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? MQ_EXIT_USAGE : MQ_EXIT_OK;
    }
    if (!strcmp(argv[1], "install")) return install(argc - 1, argv + 1);
    return mq_cli_usage_error("models", "unknown subcommand '%s' (expected: install)", argv[1]);
}
