/* rank_state.h: the bound state of a ranker model, shared by ranker.c (train, bind, score)
 * and rank_eval.c (evaluation, feature files). Internal.
 */
#ifndef MQ_RANK_STATE_H
#define MQ_RANK_STATE_H

#include "rank/rank.h"

/* Training rows kept in memory after training (not in the artifact), for feature files:
 * set 0 (fit) rows then set 1 (validation) rows, grouped by query. */
typedef struct mq__rank_rows {
    int64_t n;
    int nf;
    float *x;          /* [n x nf] */
    float *grade, *y;  /* [n] ranking grade, binary label */
    uint8_t *set;      /* [n] 0 or 1 */
    int32_t *group;    /* [n] query id */
    int32_t *member;   /* [n] index into names */
    int32_t *title;    /* [n] */
    mq_idmap *names;   /* member external ids */
} mq__rank_rows;
void mq__rank_rows_release(mq__rank_rows *r);

typedef struct mq__rank_state {
    mq__rank_snap snap;
    char gens[MQ__RANK_MAX_GEN][16];
    char names[2 * MQ__RANK_MAX_GEN + F_N_FIXED][32];
    int nf;
    mq__xgb *rank, *prob;
    double platt_a, platt_b;
    mq_isotonic iso;
    uint32_t fingerprint;
    int rank_rounds, prob_rounds, depth, prob_depth;
    double eta, prob_eta, min_child_weight, lambda;
    uint64_t seed;
    mq__rank_rows *rows;     /* NULL after a load */
} mq__rank_state;

int mq__rank_split_gens(const char *list, char names[][16], int max, mq_err *err);
uint32_t mq__rank_fingerprint(const mq_idmap *ids, int32_t n);

#endif
