/* A plugin written outside the Ember tree, built against the installed
 * header only. OOT_ABI_MAJOR lets the test build one for another ABI. */
#include <ember-plugin.h>

#ifndef OOT_ABI_MAJOR
#define OOT_ABI_MAJOR EMBER_PLUGIN_ABI_MAJOR
#endif

struct _EmberBackend {
  int unused;
};

static EmberBackend *
oot_open (const EmberBackendArgs *args, GError **error)
{
  (void) args;
  (void) error;
  return g_new0 (EmberBackend, 1);
}

static gint
oot_poll_recv_many (EmberBackend *be, EmberWaker *waker, EmberPacket *batch, guint max,
                    GError **error)
{
  (void) be; (void) waker; (void) batch; (void) max; (void) error;
  return 0;
}

static EmberPoll
oot_poll_send_ready (EmberBackend *be, EmberWaker *waker, GError **error)
{
  (void) be; (void) waker; (void) error;
  return EMBER_POLL_READY;
}

static gboolean
oot_send (EmberBackend *be, const EmberPacket *packet, GError **error)
{
  (void) be; (void) packet; (void) error;
  return TRUE;
}

static void
oot_close (EmberBackend *be)
{
  g_free (be);
}

const EmberPluginInfo *
ember_plugin_info (void)
{
  static const EmberBackendVtable vtable = {
    .open = oot_open, .poll_recv_many = oot_poll_recv_many,
    .poll_send_ready = oot_poll_send_ready, .send = oot_send, .close = oot_close,
  };
  static const EmberPluginInfo info = {
    .abi_major = OOT_ABI_MAJOR, .abi_minor = 0,
    .name = "oot-null", .kind = EMBER_PLUGIN_KIND_DNS,
    .description = "out-of-tree plugin that does nothing",
    .vtable = &vtable, .vtable_size = sizeof vtable,
  };
  return &info;
}
