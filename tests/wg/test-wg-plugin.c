/* test-wg-plugin.c — the wg plugin as a real shared module: its
 * descriptor, and a handshake plus data through the vtable only. */
#include <glib.h>
#include <gmodule.h>
#include <string.h>

#include "ember-plugin-wg.h"

static void
rng (gpointer data, guint8 *buf, gsize len)
{
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) g_rand_int (data);
}

static void
pump (const EmberWgVtable *vt, EmberWgEngine *from, EmberWgEngine *to,
      const EmberAddr *from_addr, gint64 now, guint *packets)
{
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  EmberWgTransmit tx;

  while (vt->poll_transmit (from, now, buf, sizeof buf, &tx))
    {
      gsize off = 0, len = tx.len;
      EmberWgPeer *peer = NULL;
      if (vt->decapsulate (to, now, from_addr, buf, &off, &len, &peer) == EMBER_WG_PACKET)
        {
          g_assert_cmpuint (len, ==, 20);
          g_assert_cmpuint (buf[off], ==, 0x45);
          (*packets)++;
        }
    }
}

static void
test_plugin_handshake (void)
{
  const char *root = g_getenv ("EMBER_BUILD_ROOT");
  g_autofree char *path = NULL;
  GModule *mod;
  EmberPluginInfoFunc info_fn;
  const EmberPluginInfo *info;
  const EmberWgVtable *vt;
  GRand *r = g_rand_new_with_seed (42);
  EmberWgEngine *eng[2];
  EmberWgPeer *peer[2];
  EmberAddr addr[2];
  guint8 priv[2][32];
  guint packets = 0;
  gint64 now = 5000000;

  if (root == NULL)
    {
      g_test_skip ("EMBER_BUILD_ROOT is not set (run through meson test)");
      g_rand_free (r);
      return;
    }
  path = g_build_filename (root, "plugins", "wg", "wg.so", NULL);
  mod = g_module_open (path, G_MODULE_BIND_LOCAL);
  g_assert_nonnull (mod);
  g_assert_true (g_module_symbol (mod, EMBER_PLUGIN_ENTRY_SYMBOL, (gpointer *) &info_fn));
  info = info_fn ();
  g_assert_cmpuint (info->abi_major, ==, EMBER_PLUGIN_ABI_MAJOR);
  g_assert_cmpint (info->kind, ==, EMBER_PLUGIN_KIND_WG);
  g_assert_cmpstr (info->name, ==, "wg");
  g_assert_cmpuint (info->vtable_size, ==, sizeof (EmberWgVtable));
  vt = info->vtable;

  for (int i = 0; i < 2; i++)
    {
      rng (r, priv[i], 32);
      eng[i] = vt->engine_new (priv[i], rng, r, now, 1700000000 * G_GINT64_CONSTANT (1000000), NULL);
      g_assert_nonnull (eng[i]);
      memset (&addr[i], 0, sizeof addr[i]);
      addr[i].family = EMBER_ADDR_IPV4;
      addr[i].addr[3] = (guint8) (i + 1);
    }
  for (int i = 0; i < 2; i++)
    {
      EmberWgPeerConfig c;
      memset (&c, 0, sizeof c);
      vt->get_public_key (eng[1 - i], c.public_key);
      c.endpoint = addr[1 - i];
      peer[i] = vt->add_peer (eng[i], &c, NULL);
      g_assert_nonnull (peer[i]);
      g_assert_true (vt->lookup_peer (eng[i], c.public_key) == peer[i]);
      /* The same key twice is a configuration error. */
      GError *error = NULL;
      g_assert_null (vt->add_peer (eng[i], &c, &error));
      g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
      g_clear_error (&error);
    }

  /* One 20-byte IPv4 packet waits for the handshake, then flows. */
  {
    guint8 buf[EMBER_WG_HEADROOM + 20 + EMBER_WG_TAILROOM] = { 0 };
    gsize off = EMBER_WG_HEADROOM, len = 20;
    EmberWgEvent ev;
    EmberWgPeerStats st;

    buf[off] = 0x45;
    buf[off + 3] = 20;
    g_assert_cmpint (vt->encapsulate (eng[0], peer[0], now, buf, sizeof buf, &off, &len, NULL),
                     ==, EMBER_WG_QUEUED);
    g_assert_cmpint (vt->poll_timeout (eng[0]), >, now);
    g_assert_cmpint (vt->poll_timeout (eng[0]), <=, now + 6 * G_GINT64_CONSTANT (1000000));
    for (int k = 0; k < 3; k++)
      {
        pump (vt, eng[0], eng[1], &addr[0], now, &packets);
        pump (vt, eng[1], eng[0], &addr[1], now, &packets);
      }
    g_assert_cmpuint (packets, ==, 1);
    g_assert_true (vt->poll_event (eng[0], &ev));
    g_assert_cmpint (ev.type, ==, EMBER_WG_EVENT_HANDSHAKE_COMPLETE);
    g_assert_true (ev.peer == peer[0]);
    vt->get_peer_stats (peer[1], &st);
    g_assert_true (st.has_session);
    /* The staged packet confirmed the session; no extra keepalive. */
    g_assert_cmpuint (st.rx_packets, ==, 1);
    g_assert_cmpint (st.last_handshake, ==, now);
  }

  for (int i = 0; i < 2; i++)
    {
      vt->remove_peer (eng[i], peer[i]);
      vt->engine_free (eng[i]);
    }
  g_module_close (mod);
  g_rand_free (r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wg/plugin/loads-and-handshakes-through-vtable", test_plugin_handshake);
  return g_test_run ();
}
