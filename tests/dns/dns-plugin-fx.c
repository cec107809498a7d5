/* The core's side of a DNS upstream plugin; see dns-plugin-fx.h. */
#include "dns-plugin-fx.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SLOT_LEN EMBER_DNS_ANSWER_MAX

static void
fx_wake (EmberWaker *waker)
{
  FxWaker *w = (FxWaker *) waker;
  guint64 one = 1;
  while (write (w->efd, &one, sizeof one) < 0 && errno == EINTR)
    ;
}

gboolean
dns_fx_wait (FxWaker *w, guint timeout_ms)
{
  struct pollfd p = { .fd = w->efd, .events = POLLIN };
  if (poll (&p, 1, (int) timeout_ms) <= 0)
    return FALSE;
  guint64 v;
  while (read (w->efd, &v, sizeof v) < 0 && errno == EINTR)
    ;
  return TRUE;
}

gboolean
dns_fx_load (DnsFx *fx, const char *name)
{
  const char *root = g_getenv ("EMBER_BUILD_ROOT");
  if (root == NULL)
    {
      g_test_skip ("EMBER_BUILD_ROOT is not set (run through meson test)");
      return FALSE;
    }
  g_autofree char *file = g_strdup_printf ("%s.so", name);
  g_autofree char *path = g_build_filename (root, "plugins", "dns", name, file, NULL);
  g_autoptr (GError) error = NULL;
  fx->plugin = ember_plugin_load (path, EMBER_PLUGIN_DIR_BUILD, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fx->plugin->kind, ==, EMBER_PLUGIN_KIND_DNS);
  g_assert_cmpstr (fx->plugin->name, ==, name);
  return TRUE;
}

void
dns_fx_init (DnsFx *fx)
{
  memset (fx, 0, sizeof *fx);
  fx->rw.base.wake = fx_wake;
  fx->sw.base.wake = fx_wake;
  fx->rw.efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  fx->sw.efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  fx->buf = g_malloc ((gsize) SLOT_LEN * EMBER_BATCH_MAX);
  fx->results = g_array_new (FALSE, TRUE, sizeof (FxResult));
}

EmberBackend *
dns_fx_open (DnsFx *fx, const char *group, const char *config, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_data (kf, config, (gsize) -1, G_KEY_FILE_NONE, NULL));
  EmberBackendArgs args = { .config = kf, .group = group, .log_domain = "test-dns" };
  fx->be = fx->plugin->io.open (&args, error);
  return fx->be;
}

void
dns_fx_send (DnsFx *fx, const EmberAddr *remote, const guint8 *q, gsize len, guint16 queue)
{
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (fx->plugin->io.poll_send_ready (fx->be, &fx->sw.base, &error), ==,
                   EMBER_POLL_READY);
  EmberPacket p = { .data = (guint8 *) q, .capacity = len, .len = len, .queue = queue };
  if (remote != NULL)
    p.remote = *remote;
  g_assert_true (fx->plugin->io.send (fx->be, &p, &error));
  g_assert_no_error (error);
}

guint
dns_fx_collect (DnsFx *fx, guint n, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  gboolean again = TRUE;
  while (fx->results->len < n)
    {
      if (!again)
        {
          gint64 left = (end - g_get_monotonic_time ()) / 1000;
          if (left <= 0 || !dns_fx_wait (&fx->rw, (guint) left))
            break;
        }
      for (guint i = 0; i < EMBER_BATCH_MAX; i++)
        fx->batch[i] = (EmberPacket) { .data = fx->buf + (gsize) i * SLOT_LEN, .capacity = SLOT_LEN };
      g_autoptr (GError) error = NULL;
      gint got = fx->plugin->io.poll_recv_many (fx->be, &fx->rw.base, fx->batch, EMBER_BATCH_MAX,
                                                &error);
      g_assert_no_error (error);
      g_assert_cmpint (got, >=, 0);
      for (gint i = 0; i < got; i++)
        {
          FxResult r = { .remote = fx->batch[i].remote, .error = fx->batch[i].error,
                         .queue = fx->batch[i].queue, .len = fx->batch[i].len };
          memcpy (r.data, fx->batch[i].data, r.len);
          g_array_append_val (fx->results, r);
        }
      again = got > 0;
    }
  return fx->results->len;
}

void
dns_fx_clear (DnsFx *fx)
{
  if (fx->be != NULL)
    fx->plugin->io.close (fx->be);
  fx->be = NULL;
  close (fx->rw.efd);
  close (fx->sw.efd);
  g_free (fx->buf);
  g_array_unref (fx->results);
  g_clear_pointer (&fx->plugin, ember_plugin_free);
}
