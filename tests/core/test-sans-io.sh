#!/usr/bin/env bash
# The sans-IO cores read no clock, draw no randomness of their own and
# touch no socket or GSource (STYLE.md, "Sans-IO state machines"): time,
# randomness and I/O reach them as arguments. This test greps their
# folders for the calls that would break that, with comments stripped so
# a comment may name them, and first proves on a planted file that the
# grep finds each one, so the check cannot pass by matching nothing.
set -euo pipefail
root=$1
cd "$root"
folders=(core/packet core/stun core/ice core/tunnel core/net core/dns
         plugins/wg plugins/relay/server plugins/relay/client)
pattern='\bg_get_monotonic_time\b|\bg_get_real_time\b|(^|[^_[:alnum:]])time *\(|\bclock_gettime\b|\bGSource\b|\bGSocket\b|\bg_random_|\bgettimeofday\b|\bgetrandom\b'

# Prints the offending lines of one C file, comments and strings removed.
scan() {
  gcc -fpreprocessed -dD -E -P -x c "$1" 2>/dev/null \
    | sed -E 's/"([^"\\]|\\.)*"/""/g' \
    | grep -nE "$pattern" | sed "s|^|$1:|" || true
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
planted=0
for call in 'g_get_monotonic_time ()' 'g_get_real_time ()' 'time (NULL)' 'clock_gettime (0, &ts)' \
            'GSource *s' 'GSocket *s' 'g_random_int ()' 'gettimeofday (&tv, NULL)' 'getrandom (b, 4, 0)'; do
  printf '/* %s in a comment is fine */\nstatic void f (void) { %s; }\n' "$call" "$call" > "$tmp/planted.c"
  if [[ $(scan "$tmp/planted.c" | wc -l) -ne 1 ]]; then
    echo "not ok: the grep does not find exactly one '$call' in a planted file" >&2
    planted=1
  fi
done
((planted == 0)) || exit 1

found=0
while IFS= read -r -d '' f; do
  hits=$(scan "$f")
  if [[ -n $hits ]]; then
    echo "$hits" | sed 's/^/# /'
    found=1
  fi
done < <(find "${folders[@]}" -name '*.[ch]' ! -name '*.bpf.c' -print0 2>/dev/null)
if ((found)); then
  echo "sans-IO cores must take time, randomness and I/O from their caller" >&2
  exit 1
fi
echo "# ${#folders[@]} folders clean"
