#!/usr/bin/env bash
# serve_page_ab.sh: the page builder before and after, in the same run. Builds
# bench/serve_page.c twice: against the current src/serve/page.c (build/bench_serve_page) and
# against src/serve/page.c as of a reference commit (default 7516e83, before the fast paths), its
# public names renamed so both link against the same libmarquee; then runs them alternately.
# Usage: bash bench/serve_page_ab.sh [pages (default 2000)] [rounds (default 3)] [commit]
set -euo pipefail
cd "$(dirname "$0")/.."
pages=${1:-2000}; rounds=${2:-3}; ref=${3:-7516e83}
make -s build/bench_serve_page build/libmarquee.a
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
{ git show "$ref:src/serve/page.c" 2>/dev/null || git show "$ref:src/page.c"; } > "$tmp/page_old.c"
names="mq_page_ctx_create mq_page_ctx_destroy mq_page_build mq__page_json mq__page_title_json
       mq_page_catalog_init mq_page_catalog_release"
defs=""; for n in $names; do defs="$defs -D$n=old_$n"; done
# the JSON writers were public (mq_page_json) before they moved to src/serve/serve.h (mq__)
defs="$defs -Dmq_page_json=old_mq__page_json -Dmq_page_title_json=old_mq__page_title_json"
# the old code keeps the current declarations (same signatures) under the old_ names
# before the one-folder-per-module layout page.c included "common.h" (now core + serve's header)
printf '#include "serve/serve.h"\n' > "$tmp/common.h"
cflags="-std=c17 -O2 -D_GNU_SOURCE -Iinclude -Isrc -I$tmp $defs"
cc $cflags -c "$tmp/page_old.c" -o "$tmp/page_old.o"
cc $cflags bench/serve_page.c "$tmp/page_old.o" build/libmarquee.a -lmicrohttpd -lcjson -lhiredis \
   -llmdb -llapacke -lopenblas -lpthread -lm -o "$tmp/bench_serve_page_old"
for r in $(seq "$rounds"); do
    echo "== round $r: before ($ref)"; "$tmp/bench_serve_page_old" "$pages" | tail -4
    echo "== round $r: after";           build/bench_serve_page "$pages" | tail -4
done
