/* sim_speed.c: the simulator's in-process rate against the raw page-build rate of the same
 * requests, measured in the same run (mq_sim_bench, one thread): the time inside scoring +
 * mq_page_build for every page of the run, against the run's whole time (history, assignment,
 * the cascade, event folding, bookkeeping). Target (issue 14): the simulator's own cost at most
 * 20%, i.e. sim rate >= 80% of the page-build rate.
 *   build/bench_sim_speed DATA SCENARIO MODELS_DIR OUT_DIR [members] [days] */
#include "marquee.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_sim_speed DATA SCENARIO.json MODELS_DIR OUT_DIR [members 2000] [days 14]\n");
        return 2;
    }
    mq_err err = {0, ""};
    mq_sim_scenario sc;
    if (mq_sim_scenario_load(argv[2], &sc, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    mq_sim_opts o; mq_sim_opts_init(&o, sizeof o);
    o.data = argv[1]; o.models = argv[3]; o.experiments = NULL; o.out = argv[4]; o.scenario = &sc;
    o.members = argc > 5 ? atoi(argv[5]) : 2000; o.days = argc > 6 ? atoi(argv[6]) : 14;
    o.seed = 1; o.counterfactual = false; o.threads = 1; o.log = NULL; o.server = NULL;
    double page_rate = 0, sim_rate = 0;
    int rc = mq_sim_bench(&o, &page_rate, &sim_rate, &err);
    mq_sim_scenario_release(&sc);
    if (rc) { fprintf(stderr, "%s\n", err.msg); return 1; }
    printf("sim %s: %d members x %d days, 1 thread: page builds %.0f pages/s, simulation %.0f pages/s "
           "= %.1f%% of the page-build rate (simulator's own cost %.1f%%)\n", argv[2], o.members, o.days,
           page_rate, sim_rate, 100 * sim_rate / page_rate, 100 * (1 - sim_rate / page_rate));
    return 0;
}
