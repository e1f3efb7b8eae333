# marquee.bash: bash completion for `marquee` (installed by `make install` into
# share/bash-completion/completions/marquee).
#
# Nothing is listed here by hand: commands, subcommands and options are read from the
# program's own --help when completing, so the completion follows the CLI as it changes.
#   marquee <TAB>              the commands of `marquee --help` (between "Commands:" and a blank)
#   marquee data <TAB>         subcommands: lines "  name ..." of `marquee data --help`
#   marquee train --<TAB>      the --options of `marquee train --help` (of `marquee xp analyze
#                              --help` after a subcommand)
#   marquee train --model <TAB>  the alternatives "a | b | c" of that option's help line
#   anything else              file names
_marquee_help()
{
    "${1:-marquee}" "${@:2}" --help 2>/dev/null
}

_marquee()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} bin=${COMP_WORDS[0]}
    local -a path=()
    local i w
    COMPREPLY=()
    if [[ $COMP_CWORD -eq 1 ]]; then
        w=$(_marquee_help "$bin" | awk '/^Commands:/ { on = 1; next } on && NF == 0 { exit } on { print $1 }')
        COMPREPLY=($(compgen -W "$w help --help --version" -- "$cur"))
        return
    fi
    # The command and, if the command has subcommands, the subcommand before the cursor.
    path=("${COMP_WORDS[1]}")
    local subs
    subs=$(_marquee_help "$bin" "${path[0]}" | awk '/^  [a-z][a-z0-9-]*( |$)/ { print $1 }')
    if [[ -n $subs ]]; then
        if [[ $COMP_CWORD -eq 2 ]]; then
            COMPREPLY=($(compgen -W "$subs" -- "$cur"))
            return
        fi
        for i in $subs; do [[ ${COMP_WORDS[2]} == "$i" ]] && path+=("$i"); done
    fi
    local help
    help=$(_marquee_help "$bin" "${path[@]}")
    if [[ $cur == -* ]]; then
        w=$(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$help" | sort -u)
        COMPREPLY=($(compgen -W "$w" -- "$cur"))
        return
    fi
    if [[ $prev == --* ]]; then
        # "  --model NAME   pop | trending | ease": offer the alternatives of that line.
        w=$(awk -v opt="$prev" '$1 == opt { print; exit }' <<<"$help" |
            grep -oE '[a-z0-9_]+( ?\| ?[a-z0-9_]+)+' | head -1 | tr '|' ' ')
        if [[ -n $w ]]; then
            COMPREPLY=($(compgen -W "$w" -- "$cur"))
            return
        fi
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -o bashdefault -F _marquee marquee
