/* notify — sd_notify from a thread of its own (see notify.h). */
#define G_LOG_DOMAIN "ember-notify"

#include "notify.h"

#include <systemd/sd-daemon.h>

/* Shared by the main thread and the sender; freed by whichever lets go
 * last (the sender may be stuck in sendmsg() when emberd exits). */
typedef struct {
  gint refs;
  GMutex lock;
  GCond cond;
  gboolean stop;
  gboolean ready;    /* READY=1 due */
  gboolean watchdog; /* WATCHDOG=1 due */
  char *status;      /* latest STATUS text due, or NULL */
} Shared;

struct _EmberNotifier {
  Shared *shared;
  GThread *thread;
};

static void
shared_unref (Shared *sh)
{
  if (!g_atomic_int_dec_and_test (&sh->refs))
    return;
  g_free (sh->status);
  g_mutex_clear (&sh->lock);
  g_cond_clear (&sh->cond);
  g_free (sh);
}

static gpointer
sender_main (gpointer data)
{
  Shared *sh = data;

  g_mutex_lock (&sh->lock);
  for (;;)
    {
      while (!sh->stop && !sh->ready && !sh->watchdog && sh->status == NULL)
        g_cond_wait (&sh->cond, &sh->lock);
      if (sh->stop)
        break;
      /* One datagram for everything due, READY after the status it
       * describes. */
      GString *msg = g_string_new (NULL);
      if (sh->status != NULL)
        g_string_append_printf (msg, "STATUS=%s\n", sh->status);
      if (sh->ready)
        g_string_append (msg, "READY=1\n");
      if (sh->watchdog)
        g_string_append (msg, "WATCHDOG=1\n");
      g_clear_pointer (&sh->status, g_free);
      sh->ready = sh->watchdog = FALSE;
      g_mutex_unlock (&sh->lock);
      int r = sd_notify (0, msg->str);
      if (r < 0)
        g_debug ("sd_notify: %s", g_strerror (-r));
      g_string_free (msg, TRUE);
      g_mutex_lock (&sh->lock);
    }
  g_mutex_unlock (&sh->lock);
  shared_unref (sh);
  return NULL;
}

EmberNotifier *
ember_notifier_new (void)
{
  const char *socket = g_getenv ("NOTIFY_SOCKET");
  EmberNotifier *n;
  Shared *sh;

  if (socket == NULL || *socket == '\0')
    return NULL;
  sh = g_new0 (Shared, 1);
  sh->refs = 2;
  g_mutex_init (&sh->lock);
  g_cond_init (&sh->cond);
  n = g_new0 (EmberNotifier, 1);
  n->shared = sh;
  n->thread = g_thread_new ("ember-notify", sender_main, sh);
  return n;
}

void
ember_notifier_free (EmberNotifier *n)
{
  if (n == NULL)
    return;
  g_mutex_lock (&n->shared->lock);
  n->shared->stop = TRUE;
  g_cond_signal (&n->shared->cond);
  g_mutex_unlock (&n->shared->lock);
  g_thread_unref (n->thread); /* detached: it may be waiting for the reader */
  shared_unref (n->shared);
  g_free (n);
}

static void
post (EmberNotifier *n, gboolean ready, const char *status, gboolean watchdog)
{
  if (n == NULL)
    return;
  g_mutex_lock (&n->shared->lock);
  n->shared->ready |= ready;
  n->shared->watchdog |= watchdog;
  if (status != NULL)
    {
      g_free (n->shared->status);
      n->shared->status = g_strdup (status);
    }
  g_cond_signal (&n->shared->cond);
  g_mutex_unlock (&n->shared->lock);
}

void
ember_notifier_ready (EmberNotifier *n)
{
  post (n, TRUE, NULL, FALSE);
}

void
ember_notifier_status (EmberNotifier *n, const char *status)
{
  post (n, FALSE, status, FALSE);
}

void
ember_notifier_watchdog (EmberNotifier *n)
{
  post (n, FALSE, NULL, TRUE);
}
