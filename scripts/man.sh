#!/usr/bin/env bash
# man.sh: writes the man pages of `marquee` from its own --help, with help2man: marquee.1 from
# `marquee --help` and marquee-CMD.1 from `marquee CMD --help` for every command that the
# top-level help lists (between "Commands:" and the next blank line), so new commands get a
# page without editing this script. Usage: scripts/man.sh BIN VERSION OUTDIR
set -euo pipefail
bin=$1 version=$2 out=$3
command -v help2man >/dev/null || { echo "man.sh: help2man is missing (scripts/deps.sh)" >&2; exit 1; }
mkdir -p "$out"
help2man -N --version-string="$version" -n "a personalization engine: events in, models, homepages, A/B tests" \
  -o "$out/marquee.1.tmp" "$bin"
"$bin" --help | awk '/^Commands:/ { on = 1; next } on && NF == 0 { exit } on { print }' |
while read -r cmd summary; do
  # help2man names the page after the program ("marquee train"); the page is marquee-train(1).
  help2man -N --version-string="$version" -n "$summary" -o "$out/marquee-$cmd.1.tmp" "$bin $cmd"
  sed -i -e "s/^\.TH MARQUEE /.TH MARQUEE-${cmd^^} /" -e "s/^marquee $cmd \\\\-/marquee-$cmd \\\\-/" \
    "$out/marquee-$cmd.1.tmp"
  mv "$out/marquee-$cmd.1.tmp" "$out/marquee-$cmd.1"
  echo "marquee-$cmd" >> "$out/marquee.1.see"
done
# SEE ALSO on the main page lists the command pages.
{ cat "$out/marquee.1.tmp"; echo '.SH "SEE ALSO"'; sed 's/$/(1)/' "$out/marquee.1.see" | paste -sd, - | sed 's/,/, /g'; } > "$out/marquee.1"
rm -f "$out/marquee.1.tmp" "$out/marquee.1.see"
