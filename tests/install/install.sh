#!/usr/bin/env bash
# install.sh BUILD TMP: `make install` into TMP/root (DESTDIR, PREFIX=/usr/local), then checks
# the installed tree, builds examples/embed.c against it with pkg-config (PKG_CONFIG_SYSROOT_DIR
# and PKG_CONFIG_PATH point into the DESTDIR) linked shared and statically, runs both and
# compares their output with `marquee recommend`, checks the man pages and the bash completion,
# and finally that `make uninstall` leaves nothing behind. Run by tests/install/test_install.c;
# prints what is wrong and exits 1.
set -euo pipefail
b=$1 t=$2
root=$t/root usr=$t/root/usr/local
ver=$(sed -n 's/^#define MQ_VERSION "\(.*\)"/\1/p' include/marquee/core.h)
fail() { echo "install: $*" >&2; exit 1; }
# A make of its own (not the test's jobserver), building only what is missing (man, .pc).
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s install BUILD="$b" DESTDIR="$root" PREFIX=/usr/local >"$t/make.log" 2>&1 ||
  { cat "$t/make.log" >&2; fail "make install failed"; }
for f in bin/marquee lib/libmarquee.a "lib/libmarquee.so.$ver" include/marquee.h include/marquee/models.h \
         lib/pkgconfig/marquee.pc share/man/man1/marquee.1 share/man/man1/marquee-train.1 \
         share/man/man1/marquee-xp.1 share/bash-completion/completions/marquee; do
  [ -f "$usr/$f" ] || fail "$usr/$f is missing"
done
[ "$(readlink "$usr/lib/libmarquee.so.${ver%%.*}")" = "libmarquee.so.$ver" ] || fail "no libmarquee.so.${ver%%.*} symlink"
[ "$(readlink "$usr/lib/libmarquee.so")" = "libmarquee.so.${ver%%.*}" ] || fail "no libmarquee.so symlink"
v=$("$usr/bin/marquee" --version)
[ "$v" = "marquee $ver" ] || fail "installed marquee --version: $v"

# pkg-config, into the DESTDIR
export PKG_CONFIG_PATH=$usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
[ "$(pkg-config --modversion marquee)" = "$ver" ] || fail "pkg-config --modversion: $(pkg-config --modversion marquee)"
cflags=$(pkg-config --cflags marquee) libs=$(pkg-config --libs marquee)
grep -q -- "-I$usr/include" <<<"$cflags" || fail "pkg-config --cflags: $cflags"
cc -std=c17 -Wall -Wextra -Werror examples/embed.c $cflags $libs -o "$t/embed_shared" || fail "shared link failed: $cflags $libs"
static_libs=$(pkg-config --static --libs marquee | sed 's/-lmarquee\b/-l:libmarquee.a/')
cc -std=c17 -Wall -Wextra -Werror examples/embed.c $cflags $static_libs -o "$t/embed_static" ||
  fail "static link failed: $static_libs"
needed=$(readelf -d "$t/embed_shared")
grep -q 'NEEDED.*\[libmarquee.so.0\]' <<<"$needed" || fail "embed_shared does not need libmarquee.so.0"
needed=$(readelf -d "$t/embed_static")
! grep -q 'NEEDED.*libmarquee' <<<"$needed" || fail "embed_static needs libmarquee.so"
data=tests/fixtures/data/ml/ratings.csv
LD_LIBRARY_PATH=$usr/lib "$t/embed_shared" $data 1 ease > "$t/shared.out" || fail "embed_shared failed"
deps=$(LD_LIBRARY_PATH=$usr/lib ldd "$t/embed_shared")
grep -q "$usr/lib/libmarquee.so.0" <<<"$deps" || fail "embed_shared did not load the installed library: $deps"
env -u LD_LIBRARY_PATH "$t/embed_static" $data 1 ease > "$t/static.out" || fail "embed_static failed"
cmp -s "$t/shared.out" "$t/static.out" || fail "shared and static outputs differ: $(diff "$t/shared.out" "$t/static.out")"
# The same titles as the command, same order.
"$usr/bin/marquee" train --data $data --model ease --threads 1 --out "$t/m.mqm" 2>/dev/null >/dev/null
"$usr/bin/marquee" recommend --model "$t/m.mqm" --member 1 --data $data -n 5 2>/dev/null | awk '{ print $1, $2 }' > "$t/cli.out"
[ -s "$t/cli.out" ] || fail "marquee recommend printed nothing"
awk 'NR > 1 { print $1, $2 }' "$t/shared.out" | cmp -s - "$t/cli.out" || fail "embed vs marquee recommend: $(cat "$t/shared.out" "$t/cli.out")"
first=$(head -1 "$t/shared.out")
[ "$first" = "marquee $ver: ease, 3 members x 4 titles, 6 interactions" ] || fail "embed: $first"

# man pages: rendered from --help, one per command
grep -q '^\.TH MARQUEE-TRAIN ' "$usr/share/man/man1/marquee-train.1" || fail "marquee-train.1 has no .TH MARQUEE-TRAIN"
grep -q -- 'param' "$usr/share/man/man1/marquee-train.1" || fail "marquee-train.1 lacks --param"
grep -q 'marquee\\-train(1)' "$usr/share/man/man1/marquee.1" || grep -q 'marquee-train(1)' "$usr/share/man/man1/marquee.1" ||
  fail "marquee.1 has no SEE ALSO marquee-train(1)"
for c in $("$usr/bin/marquee" --help | awk '/^Commands:/ { on = 1; next } on && NF == 0 { exit } on { print $1 }'); do
  [ -f "$usr/share/man/man1/marquee-$c.1" ] || fail "no man page for marquee $c"
done

# bash completion, run against the installed command
comp=$(PATH=$usr/bin:$PATH bash -c '
  source "$1"
  t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _marquee; echo "${COMPREPLY[*]}"; }
  t marquee tr; t marquee data sp; t marquee train --mo; t marquee train --model ea; t marquee xp analyze --covar
' _ "$usr/share/bash-completion/completions/marquee")
want=$'train\nsplit\n--model\nease\n--covariate'
[ "$comp" = "$want" ] || fail "completion: got [$comp], want [$want]"

env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s uninstall BUILD="$b" DESTDIR="$root" PREFIX=/usr/local >/dev/null
left=$(find "$root" -type f -o -type l)
[ -z "$left" ] || fail "left after make uninstall: $left"
echo "install: ok (DESTDIR $root)"
