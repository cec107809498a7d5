/* static-status — the status file of emberd's static-peer mode.
 *
 * A running instance rewrites $EMBER_RUN_DIR/<ifname>.status (default
 * /run/ember) once a second with one JSON object per peer, and
 * `emberd --status` prints it. Written by the main thread only.
 */
#include "static-peer.h"

#include <stdio.h>
#include <sys/socket.h>

#include "net/cidr.h"

static char *
addr_to_string (const EmberAddr *a)
{
  char buf[EMBER_ADDR_PORT_STRLEN];
  if (a->family != EMBER_ADDR_IPV4 && a->family != EMBER_ADDR_IPV6)
    return g_strdup ("");
  return g_strdup (ember_addr_format_port (a, buf));
}

void
ember_static_status_write (const char *path, const char *ifname, const EmberWgVtable *wg,
                           EmberWgPeer *const *peers, const char *const *names, guint n_peers,
                           gint64 now, gint64 wall)
{
  g_autoptr (GString) s = g_string_new ("{\"interface\":\"");

  g_string_append_printf (s, "%s\",\"peers\":[", ifname);
  for (guint i = 0; i < n_peers; i++)
    {
      EmberWgPeerStats st;
      g_autofree char *ep = NULL;
      gint64 last = 0;

      wg->get_peer_stats (peers[i], &st);
      ep = addr_to_string (&st.endpoint);
      /* Report the last handshake as wall-clock seconds, like `wg show`. */
      if (st.last_handshake != G_MININT64)
        last = (wall - (now - st.last_handshake)) / G_USEC_PER_SEC;
      g_string_append_printf (s,
                              "%s{\"public_key\":\"%s\",\"endpoint\":\"%s\","
                              "\"latest_handshake\":%" G_GINT64_FORMAT ","
                              "\"rx_bytes\":%" G_GUINT64_FORMAT ",\"tx_bytes\":%" G_GUINT64_FORMAT
                              ",\"rx_packets\":%" G_GUINT64_FORMAT
                              ",\"tx_packets\":%" G_GUINT64_FORMAT ",\"session\":%s}",
                              i ? "," : "", names[i], ep, last, st.rx_bytes, st.tx_bytes,
                              st.rx_packets, st.tx_packets, st.has_session ? "true" : "false");
    }
  g_string_append (s, "]}\n");
  if (!g_file_set_contents (path, s->str, (gssize) s->len, NULL))
    g_debug ("cannot write %s", path);
}

char *
ember_static_status_path (const char *ifname)
{
  const char *dir = g_getenv ("EMBER_RUN_DIR");
  return g_strdup_printf ("%s/%s.status", dir != NULL ? dir : "/run/ember", ifname);
}

int
ember_static_status_print (const char *ifname)
{
  g_autofree char *path = ember_static_status_path (ifname != NULL ? ifname : "ember0");
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;

  if (!g_file_get_contents (path, &text, NULL, &error))
    {
      g_printerr ("emberd: no status for %s: %s\n", ifname != NULL ? ifname : "ember0",
                  error->message);
      return 1;
    }
  fputs (text, stdout);
  return 0;
}
