/* An in-memory transport plugin for the loader and loop tests, built as a
 * real shared module so tests go through the loader and the ABI checks.
 *
 * Config group keys:
 *   generate=N      packets it offers on receive before anything else
 *   error-every=K   every K-th generated slot carries an error (0: none)
 *   capacity=C      send queue size; a wire thread moves sent packets
 *                   back to the receive side (a loopback), and
 *                   poll_send_ready is pending while C packets wait for it
 *
 * Variants come from compile-time macros: TESTPLUG_NAME, TESTPLUG_MAJOR,
 * TESTPLUG_MINOR, TESTPLUG_KIND, TESTPLUG_SHORT_VTABLE, TESTPLUG_ABI_1_0,
 * TESTPLUG_NO_ENTRY.
 */
#include <errno.h>
#include <string.h>

#include "ember-plugin.h"

#ifndef TESTPLUG_NAME
#define TESTPLUG_NAME "test-loopback"
#endif
#ifndef TESTPLUG_MAJOR
#define TESTPLUG_MAJOR EMBER_PLUGIN_ABI_MAJOR
#endif
#ifndef TESTPLUG_MINOR
#define TESTPLUG_MINOR EMBER_PLUGIN_ABI_MINOR
#endif
#ifndef TESTPLUG_KIND
#define TESTPLUG_KIND EMBER_PLUGIN_KIND_TRANSPORT
#endif

#define SLOT_SIZE 2048
#define MAX_CAPACITY 1024
#define RX_CAPACITY 1024

typedef struct {
  guint8 data[SLOT_SIZE];
  gsize len;
} Slot;

typedef struct {
  Slot *slots;
  guint size;
  guint head;
  guint count;
} Ring;

/* Sent packets cross a "wire" thread from the tx ring to the rx ring, as
 * a device's writer thread would drain its queue on its own. */
struct _EmberBackend {
  guint generate;
  guint generated;
  guint error_every;
  guint capacity;
  GMutex lock;
  GCond cond;
  GThread *wire;
  gboolean stop;
  Ring tx;
  Ring rx;
  EmberWaker *send_waker;
  EmberWaker *recv_waker;
};

static Slot *
ring_push (Ring *r)
{
  Slot *s = &r->slots[(r->head + r->count) % r->size];
  r->count++;
  return s;
}

static Slot *
ring_pop (Ring *r)
{
  Slot *s = &r->slots[r->head];
  r->head = (r->head + 1) % r->size;
  r->count--;
  return s;
}

static void
wake (EmberWaker **waker)
{
  EmberWaker *w = *waker;
  *waker = NULL;
  ember_waker_wake (w);
}

static gpointer
wire_thread (gpointer data)
{
  EmberBackend *be = data;

  g_mutex_lock (&be->lock);
  for (;;)
    {
      Slot *from, *to;
      while (!be->stop && (be->tx.count == 0 || be->rx.count == be->rx.size))
        g_cond_wait (&be->cond, &be->lock);
      if (be->stop)
        break;
      from = ring_pop (&be->tx);
      to = ring_push (&be->rx);
      memcpy (to->data, from->data, from->len);
      to->len = from->len;
      wake (&be->recv_waker);
      wake (&be->send_waker);
    }
  g_mutex_unlock (&be->lock);
  return NULL;
}

static gboolean
get_uint (GKeyFile *kf, const char *group, const char *key, guint max, guint *out,
          GError **error)
{
  GError *local = NULL;
  gint64 v;

  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;
  v = g_key_file_get_int64 (kf, group, key, &local);
  if (local != NULL || v < 0 || v > max)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG,
                   "[%s] %s: expected an integer from 0 to %u", group, key, max);
      g_clear_error (&local);
      return FALSE;
    }
  *out = (guint) v;
  return TRUE;
}

static gboolean
testplug_validate (GKeyFile *kf, const char *group, GError **error)
{
  static const char *const known[] = { "generate", "error-every", "capacity", NULL };
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  guint dummy;

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (known, keys[i]))
      {
        g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG,
                     "[%s] %s: unknown key (expected generate, error-every or capacity)", group,
                     keys[i]);
        return FALSE;
      }
  return get_uint (kf, group, "generate", G_MAXINT32, &dummy, error) &&
         get_uint (kf, group, "error-every", G_MAXINT32, &dummy, error) &&
         get_uint (kf, group, "capacity", MAX_CAPACITY, &dummy, error);
}

static EmberBackend *
testplug_open (const EmberBackendArgs *args, GError **error)
{
  EmberBackend *be;

  if (args->config != NULL && !testplug_validate (args->config, args->group, error))
    return NULL;
  be = g_new0 (EmberBackend, 1);
  be->capacity = 16;
  if (args->config != NULL)
    {
      get_uint (args->config, args->group, "generate", G_MAXINT32, &be->generate, NULL);
      get_uint (args->config, args->group, "error-every", G_MAXINT32, &be->error_every, NULL);
      get_uint (args->config, args->group, "capacity", MAX_CAPACITY, &be->capacity, NULL);
    }
  if (be->capacity == 0)
    be->capacity = 1;
  be->tx.size = be->capacity;
  be->tx.slots = g_new0 (Slot, be->tx.size);
  be->rx.size = RX_CAPACITY;
  be->rx.slots = g_new0 (Slot, be->rx.size);
  g_mutex_init (&be->lock);
  g_cond_init (&be->cond);
  be->wire = g_thread_new ("testplug-wire", wire_thread, be);
  return be;
}

static gint
testplug_poll_recv_many (EmberBackend *be, EmberWaker *waker, EmberPacket *batch, guint max,
                         GError **error)
{
  guint n = 0;

  (void) error;
  while (n < max && be->generated < be->generate)
    {
      EmberPacket *p = &batch[n++];
      guint seq = be->generated++;
      if (be->error_every != 0 && (seq + 1) % be->error_every == 0)
        {
          p->error = EBADMSG;
          p->len = 0;
          continue;
        }
      p->len = MIN ((gsize) 4, p->capacity);
      for (gsize i = 0; i < p->len; i++)
        p->data[i] = (guint8) (seq >> (8 * (3 - i)));
    }
  g_mutex_lock (&be->lock);
  while (n < max && be->rx.count > 0)
    {
      EmberPacket *p = &batch[n++];
      Slot *slot = ring_pop (&be->rx);
      p->len = MIN (slot->len, p->capacity);
      memcpy (p->data, slot->data, p->len);
      g_cond_signal (&be->cond);
    }
  if (n == 0)
    be->recv_waker = waker;
  g_mutex_unlock (&be->lock);
  return (gint) n;
}

static EmberPoll
testplug_poll_send_ready (EmberBackend *be, EmberWaker *waker, GError **error)
{
  EmberPoll r = EMBER_POLL_READY;

  (void) error;
  g_mutex_lock (&be->lock);
  if (be->tx.count == be->tx.size)
    {
      be->send_waker = waker;
      r = EMBER_POLL_PENDING;
    }
  g_mutex_unlock (&be->lock);
  return r;
}

static gboolean
testplug_send (EmberBackend *be, const EmberPacket *packet, GError **error)
{
  Slot *slot;

  if (packet->len > SLOT_SIZE)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_IO,
                   "packet of %zu bytes exceeds %d", packet->len, SLOT_SIZE);
      return FALSE;
    }
  g_mutex_lock (&be->lock);
  if (be->tx.count == be->tx.size)
    {
      g_mutex_unlock (&be->lock);
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "send called while not ready");
      return FALSE;
    }
  slot = ring_push (&be->tx);
  memcpy (slot->data, packet->data, packet->len);
  slot->len = packet->len;
  g_cond_signal (&be->cond);
  g_mutex_unlock (&be->lock);
  return TRUE;
}

static void
testplug_close (EmberBackend *be)
{
  g_mutex_lock (&be->lock);
  be->stop = TRUE;
  g_cond_signal (&be->cond);
  g_mutex_unlock (&be->lock);
  g_thread_join (be->wire);
  g_mutex_clear (&be->lock);
  g_cond_clear (&be->cond);
  g_free (be->tx.slots);
  g_free (be->rx.slots);
  g_free (be);
}

/* A control interface of the shape ember-plugin.h asks for: its size
 * first. The loader test looks it up by name. */
typedef struct {
  gsize size;
  guint magic;
} TestplugControl;

static const TestplugControl testplug_control = { sizeof testplug_control, 0x7e57 };

static const void *
testplug_get_control (const char *name)
{
  return g_strcmp0 (name, "test-control-1") == 0 ? &testplug_control : NULL;
}

static const EmberBackendVtable vtable = {
  .open = testplug_open,
  .poll_recv_many = testplug_poll_recv_many,
  .poll_send_ready = testplug_poll_send_ready,
  .send = testplug_send,
  .close = testplug_close,
  .validate_config = testplug_validate,
  .get_control = testplug_get_control,
};

#ifndef TESTPLUG_NO_ENTRY
EMBER_PLUGIN_EXPORT const EmberPluginInfo *
ember_plugin_info (void)
{
  static const EmberPluginInfo info = {
    .abi_major = TESTPLUG_MAJOR,
    .abi_minor = TESTPLUG_MINOR,
    .name = TESTPLUG_NAME,
    .kind = TESTPLUG_KIND,
    .description = "in-memory loopback transport for tests",
#if defined(TESTPLUG_SHORT_VTABLE)
    /* Built before validate_config existed: the host must zero-fill it. */
    .vtable_size = offsetof (EmberBackendVtable, validate_config),
#elif defined(TESTPLUG_ABI_1_0)
    /* Built for ABI 1.0, before get_control (1.1): its static vtable
     * still has the member, but the size says it is not there. */
    .vtable_size = offsetof (EmberBackendVtable, get_control),
#else
    .vtable_size = sizeof vtable,
#endif
    .vtable = &vtable,
  };
  return &info;
}
#else
/* Exports something, just not the entry symbol. */
EMBER_PLUGIN_EXPORT const void *not_an_ember_plugin (void);
EMBER_PLUGIN_EXPORT const void *
not_an_ember_plugin (void)
{
  return &vtable;
}
#endif
