# bench/dns-measure.sh — sourced by bench/dns.sh and bench/dns-emberd.sh:
# one dnsperf run with the CPU time each server process spent on it.
#
# On a 2-core machine dnsperf, the server under test and its upstream
# share the CPU, so queries per second mostly say how much CPU was left
# for the server, and a server twice as fast as another may show the
# same rate. The CPU a server's process (all its threads, user and
# kernel: utime + stime of /proc/PID/stat) spent during a run divided by
# the queries dnsperf got answers for is its own cost per query, which
# the neighbours do not change much; 1 s of CPU divided by it is the rate
# one core could serve.
#
# Set before calling: DNS_MEASURE_DIR (for the logs), and
# DNS_MEASURE_EXEC, a command prefix dnsperf runs under (empty, or e.g.
# "ip netns exec NS").

dns_measure_clk_tck=$(getconf CLK_TCK)

# cpu_ticks PID: utime + stime of the process (all threads) in clock ticks.
cpu_ticks() {
  # the command name in field 2 may hold spaces: cut after its ')'
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# dns_measure NAME SERVER PORT FILE SECONDS RATE PID [UPSTREAM_PID]
# Runs dnsperf (4 clients, 64 queries in flight each; RATE queries per
# second at most, 0 for no limit) and prints one line:
#   qps avg_ms max_ms sd_ms lost cpu_us_per_query upstream_cpu_us_per_query
# (the last "-" without UPSTREAM_PID). The whole output is in
# $DNS_MEASURE_DIR/NAME.log.
dns_measure() {
  local name=$1 server=$2 port=$3 file=$4 seconds=$5 rate=$6 pid=$7 upid=${8:-}
  local limit=() c0 c1 u0=0 u1=0
  [[ $rate -gt 0 ]] && limit=(-Q "$rate")
  c0=$(cpu_ticks "$pid")
  [[ -n $upid ]] && u0=$(cpu_ticks "$upid")
  # shellcheck disable=SC2086 # the prefix is words
  $DNS_MEASURE_EXEC dnsperf -s "$server" -p "$port" -d "$file" -l "$seconds" -c 4 -q 64 \
    "${limit[@]}" >"$DNS_MEASURE_DIR/$name.log" 2>&1 || true
  c1=$(cpu_ticks "$pid")
  [[ -n $upid ]] && u1=$(cpu_ticks "$upid")
  awk -v hz="$dns_measure_clk_tck" -v cpu=$((c1 - c0)) -v ucpu=$((u1 - u0)) -v up="$upid" '
    /Queries completed:/ { done = $3 }
    /Queries per second:/ { qps = $4 }
    /Average Latency/ { avg = $4 * 1000; max = $8 * 1000 }
    /Latency StdDev/ { sd = $4 * 1000 }
    /Queries lost:/ { lost = $3 }
    END {
      us = done > 0 ? sprintf ("%.2f", cpu * 1e6 / hz / done) : "-"
      uus = up != "" && done > 0 ? sprintf ("%.2f", ucpu * 1e6 / hz / done) : "-"
      printf "%.0f %.3f %.3f %.3f %s %s %s\n", qps, avg, max, sd, lost == "" ? "-" : lost, us, uus
    }' "$DNS_MEASURE_DIR/$name.log"
}

# dns_measure_rate QPS...: half the lowest of the rates, rounded down to
# a thousand (at least 1000): a load every server here keeps up with, so
# the latencies compare service times, not queues.
dns_measure_rate() {
  printf '%s\n' "$@" | awk 'NR == 1 || $1 < m { m = $1 } END { r = int (m / 2000) * 1000; print r < 1000 ? 1000 : r }'
}

# dns_median FILE: one line of dns_measure's columns from the rows in
# FILE (one per round): the median of each (the lower middle for an even
# count), lost queries summed, "-" where any row has "-".
dns_median() {
  awk '
    { for (i = 1; i <= NF; i++) v[i, NR] = $i; nf = NF }
    END {
      line = ""
      for (i = 1; i <= nf; i++) {
        n = 0; dash = 0; sum = 0
        for (r = 1; r <= NR; r++) {
          x = v[i, r]
          if (x == "-") { dash = 1; continue }
          sum += x
          # insertion sort, numerically (mawk has no asort)
          for (j = ++n; j > 1 && s[j - 1] + 0 > x + 0; j--) s[j] = s[j - 1]
          s[j] = x
        }
        out = dash ? "-" : i == 5 ? sum : s[int ((n + 1) / 2)]
        line = line (i > 1 ? " " : "") out
      }
      print line
    }' "$1"
}
