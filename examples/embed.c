/* embed.c: a small program embedding libmarquee: loads interaction data, trains a model on
 * its positives and prints a member's top titles, as `marquee train` + `marquee recommend`
 * would. It builds against an installed Marquee with pkg-config (docs/install.md);
 * tests/install/install.sh builds it both ways against a DESTDIR install and runs it:
 *
 *   cc embed.c $(pkg-config --cflags --libs marquee) -o embed               # shared
 *   cc embed.c $(pkg-config --cflags marquee) \
 *      $(pkg-config --static --libs marquee | sed 's/-lmarquee/-l:libmarquee.a/') -o embed
 *
 * Usage: embed DATA MEMBER [MODEL]   (MODEL: pop by default)
 */
#include <marquee.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: embed DATA MEMBER [MODEL]\n");
        return 2;
    }
    /* A program compiled against one header and run with another shared library notices. */
    if (strcmp(mq_version(), MQ_VERSION) != 0) {
        fprintf(stderr, "embed: built with marquee %s, running with %s\n", MQ_VERSION, mq_version());
        return 1;
    }
    const char *path = argv[1], *member = argv[2], *kind = argc > 3 ? argv[3] : "pop";
    mq_err err = {0};
    mq_dataset *raw = NULL, *pos = NULL;
    mq_model *m = NULL;
    int rc = 1;
    if (mq_data_open(path, NULL, &raw, &err) || mq_data_positives(raw, 0, 1, &pos, &err)) goto fail;
    mq_train_opts o; mq_train_opts_init(&o, sizeof o);
    o.n_threads = 1; o.seed = 1;
    if (mq_model_train(kind, pos, &o, &m, &err)) goto fail;
    int32_t titles[5];
    float scores[5];
    int n = mq_model_recommend_member(m, pos, raw, member, NULL, 5, titles, scores, &err);
    if (n < 0) goto fail;
    printf("marquee %s: %s, %d members x %d titles, %lld interactions\n", mq_version(), kind,
           raw->n_members, raw->n_titles, (long long)raw->nnz);
    for (int i = 0; i < n; i++)
        printf("%d %s %.6f\n", i + 1, mq_model_title_id(m, titles[i]), scores[i]);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "embed: %s\n", err.msg);
done:
    mq_model_destroy(m);
    mq_dataset_destroy(pos);
    mq_dataset_destroy(raw);
    return rc;
}
