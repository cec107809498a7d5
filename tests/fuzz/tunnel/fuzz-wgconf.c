/* fuzz-wgconf: arbitrary bytes as a wg-quick file (core/tunnel/wgconf.h).
 * Invariants: exactly one of a configuration and an error; every error
 * names the file first; a configuration is consistent with itself (a
 * private key was given, every hook has a non-empty command and a line
 * inside the file, a Table name only with TABLE_NAME, a table number
 * only with TABLE_ID and never 0, every AllowedIPs prefix masked, every
 * peer on a line of its own). Any violation aborts. */
#include <stdlib.h>
#include <string.h>

#include "tunnel/wgconf.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
check (gboolean ok, const char *what)
{
  if (!ok)
    {
      g_printerr ("invariant broken: %s\n", what);
      abort ();
    }
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberWgConf) c = ember_wgconf_parse (text, "f.conf", &error);
  guint lines = 1;

  for (size_t i = 0; i < size && data[i] != '\0'; i++)
    lines += data[i] == '\n';
  check ((c == NULL) != (error == NULL), "exactly one of a result and an error");
  if (c == NULL)
    {
      check (g_str_has_prefix (error->message, "f.conf"), "the error names the file");
      return 0;
    }
  for (guint s = 0; s < EMBER_WGCONF_N_HOOKS; s++)
    for (guint i = 0; i < c->hooks[s]->len; i++)
      {
        const EmberWgConfHook *h = g_ptr_array_index (c->hooks[s], i);
        check (h->command[0] != '\0' && strchr (h->command, '\n') == NULL, "hook command");
        check (h->line >= 1 && h->line <= lines, "hook line");
      }
  check ((c->table == EMBER_WGCONF_TABLE_NAME) == (c->table_name != NULL), "table name");
  check (c->table != EMBER_WGCONF_TABLE_ID || c->table_id != 0, "table number");
  check (c->fwmark == 0 || c->fwmark_line != 0, "fwmark line");
  check (c->dns_line != 0 || (c->dns_servers->len == 0 && c->dns_search->len == 0), "dns line");
  for (guint i = 0; i < c->dns_search->len; i++)
    check (*(const char *) g_ptr_array_index (c->dns_search, i) != '\0', "search domain");
  for (guint i = 0; i < c->peers->len; i++)
    {
      const EmberWgConfPeer *p = g_ptr_array_index (c->peers, i);
      check (p->line >= 1 && p->line <= lines, "peer line");
      for (guint j = 0; j < p->allowed_ips->len; j++)
        check (!ember_cidr_has_host_bits (&g_array_index (p->allowed_ips, EmberCidr, j)),
               "AllowedIPs masked");
      check (p->endpoint_host == NULL || p->endpoint_port != 0, "endpoint port");
    }
  return 0;
}
