/* tests/dns/bench-stub-shell: the stub resolver behind the loopback
 * shell of stub-shell.c as a process, for bench/dns.sh.
 *
 *   bench-dns-stub-shell UPSTREAM_PORT PATTERN
 *
 * Serves sentinel 0 on a free 127.0.0.1 port (printed as "port N" on
 * stdout), forwards to 127.0.0.1:UPSTREAM_PORT, answers names matching
 * PATTERN (one dual-stack dns resource) itself. Runs until SIGTERM or
 * SIGINT, then prints the stub's counters on stderr. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "stub-shell.h"

static DnsShell shell;

static void
on_signal (int sig)
{
  (void) sig;
  g_atomic_int_set (&shell.stop, 1);
}

static guint64
rng_counter (gpointer user_data)
{
  guint64 *state = user_data;

  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return *state >> 17;
}

int
main (int argc, char **argv)
{
  static guint64 state = 1;
  EmberIceRng rng = { rng_counter, &state };
  EmberDnsStubResource res = { { "00000000-0000-4000-8000-0000000000b1" }, NULL,
                               EMBER_DNS_STACK_DUAL };
  EmberAddr up = { .family = EMBER_ADDR_IPV4, .addr = { 127, 0, 0, 1 } };
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberDnsStub) stub = NULL;
  EmberDnsStubStats s;
  guint64 port;

  if (argc != 3 || !g_ascii_string_to_unsigned (argv[1], 10, 1, 65535, &port, NULL))
    {
      fprintf (stderr, "usage: %s UPSTREAM_PORT PATTERN\n", argv[0]);
      return 2;
    }
  stub = ember_dns_stub_new (&rng);
  up.port = (guint16) port;
  ember_dns_stub_set_upstreams (stub, &up, 1);
  res.pattern = argv[2];
  if (!ember_dns_stub_set_resources (stub, &res, 1, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 2;
    }
  if (!dns_shell_open (&shell, stub, (guint16) port))
    {
      fprintf (stderr, "cannot bind a loopback port\n");
      return 1;
    }
  signal (SIGTERM, on_signal);
  signal (SIGINT, on_signal);
  printf ("port %u\n", shell.port);
  fflush (stdout);
  dns_shell_run (&shell);
  dns_shell_get_stats (&shell, &s);
  fprintf (stderr,
           "queries %" G_GUINT64_FORMAT " local %" G_GUINT64_FORMAT " forwarded %" G_GUINT64_FORMAT
           " timeouts %" G_GUINT64_FORMAT " unmatched %" G_GUINT64_FORMAT
           " pending-full %" G_GUINT64_FORMAT "\n",
           s.queries, s.answered_locally, s.forwarded, s.timeouts, s.unmatched, s.pending_full);
  dns_shell_close (&shell);
  return 0;
}
