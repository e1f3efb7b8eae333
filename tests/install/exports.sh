#!/usr/bin/env bash
# exports.sh BUILD: checks what libmarquee.so exports (tests/install/test_install.c): the
# SONAME is libmarquee.so.MAJOR, the real file libmarquee.so.MAJOR.MINOR.PATCH with the two
# symlinks; every exported symbol is public (mq_ then a letter or digit: no internal mq__*, no
# name of another library's); every function declared in include/ that the library defines is
# exported. Prints what is wrong and exits 1.
set -euo pipefail
b=$1
ver=$(sed -n 's/^#define MQ_VERSION "\(.*\)"/\1/p' include/marquee/core.h)
so=$b/libmarquee.so.${ver%%.*}
st=0
soname=$(readelf -d "$b/libmarquee.so.$ver" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libmarquee.so.${ver%%.*}" ] || { echo "SONAME is '$soname'"; st=1; }
[ "$(readlink "$so")" = "libmarquee.so.$ver" ] || { echo "$so does not link to libmarquee.so.$ver"; st=1; }
[ "$(readlink "$b/libmarquee.so")" = "libmarquee.so.${ver%%.*}" ] || { echo "$b/libmarquee.so is no symlink to the SONAME"; st=1; }
exported=$(nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }' | sort -u)
bad=$(grep -v '^mq_[a-z0-9]' <<<"$exported" || true)
[ -z "$bad" ] || { echo "exported but not public API:"; echo "$bad"; st=1; }
public=$(cat include/marquee.h include/marquee/*.h | grep -oE '\bmq_[a-z0-9_]+ *\(' | tr -d ' (' | sort -u)
defined=$(nm "$b/libmarquee.a" 2>/dev/null | awk '$2 == "T" { print $3 }' | sort -u)
missing=$(comm -23 <(comm -12 <(echo "$public") <(echo "$defined")) <(echo "$exported"))
[ -z "$missing" ] || { echo "public functions not exported:"; echo "$missing"; st=1; }
for f in mq_version mq_data_open mq_model_train mq_model_recommend_member mq_xp_analyze_params \
         mq_train_opts_init mq_filter_init; do
  grep -qx "$f" <<<"$exported" || { echo "$f is not exported"; st=1; }
done
echo "exports: $(wc -l <<<"$exported") symbols, $(comm -12 <(echo "$public") <(echo "$defined") | wc -l) public functions defined"
exit $st
