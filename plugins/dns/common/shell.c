/* plugins/dns/common/shell — the I/O vtable shared by the DNS upstream
 * plugins: in-flight slots handed between the core's thread and the
 * worker thread, the worker's main context, timeouts. See shell.h.
 */
#include <errno.h>
#include <string.h>

#include "shell.h"

struct _EmberBackend {
  DnsShell shell;
};

/* ---- Worker thread ---------------------------------------------------------- */

static gboolean
kick_dispatch (GSource *source, GSourceFunc cb, gpointer data)
{
  (void) cb;
  DnsShell *sh = data;
  g_source_set_ready_time (source, -1);
  for (;;)
    {
      g_mutex_lock (&sh->lock);
      if (sh->q_len == 0)
        {
          g_mutex_unlock (&sh->lock);
          break;
        }
      guint i = sh->queued[sh->q_head];
      sh->q_head = (sh->q_head + 1) % DNS_SLOTS;
      sh->q_len--;
      DnsSlot *s = &sh->slots[i];
      s->state = DNS_SLOT_INFLIGHT;
      g_mutex_unlock (&sh->lock);
      s->busy = TRUE;
      s->deadline = g_get_monotonic_time () + (gint64) sh->config.timeout_ms * 1000;
      s->owner = NULL;
      s->tries = 0;
      sh->busy_key[i] = dns_slot_key (s->upstream, s->id);
      sh->busy_deadline[i] = s->deadline;
      sh->ops->start (sh, i);
    }
  if (sh->ops->flush != NULL)
    sh->ops->flush (sh);
  dns_shell_update_timer (sh);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs kick_funcs = { .dispatch = kick_dispatch };

static gboolean
timer_dispatch (GSource *source, GSourceFunc cb, gpointer data)
{
  (void) source;
  (void) cb;
  DnsShell *sh = data;
  gint64 now = g_get_monotonic_time ();
  for (guint i = 0; i < DNS_SLOTS; i++)
    if (sh->busy_key[i] != 0 && sh->busy_deadline[i] <= now)
      {
        sh->ops->forget (sh, i);
        dns_shell_complete (sh, i, NULL, 0, ETIMEDOUT);
      }
  dns_shell_update_timer (sh);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = { .dispatch = timer_dispatch };

/* `busy` is the worker's own mark of its slots: no lock needed. */
void
dns_shell_update_timer (DnsShell *sh)
{
  gint64 next = -1;
  for (guint i = 0; i < DNS_SLOTS; i++)
    if (sh->busy_key[i] != 0 && (next < 0 || sh->busy_deadline[i] < next))
      next = sh->busy_deadline[i];
  g_source_set_ready_time (sh->timer_source, next);
}

static gpointer
worker_main (gpointer data)
{
  DnsShell *sh = data;
  g_main_context_push_thread_default (sh->context);
  GError *error = NULL;
  gboolean ok = sh->ops->setup (sh, &error);
  g_mutex_lock (&sh->lock);
  sh->setup_done = TRUE;
  sh->setup_error = error;
  g_cond_broadcast (&sh->cond);
  g_mutex_unlock (&sh->lock);
  /* Not g_main_loop_run(): a quit issued before it starts would be lost
   * (open() returns before this thread gets here). The flag is checked
   * after every iteration, and close() wakes the context after setting it. */
  while (ok && !g_atomic_int_get (&sh->stopping))
    g_main_context_iteration (sh->context, TRUE);
  /* Queries sent just before close() must not reach a torn-down
   * transport while GIO's cancellations are drained below. */
  g_source_destroy (sh->kick_source);
  g_source_destroy (sh->timer_source);
  sh->ops->teardown (sh);
  /* Let GIO finish the cancellations teardown started. */
  while (g_main_context_iteration (sh->context, FALSE))
    ;
  g_main_context_pop_thread_default (sh->context);
  return NULL;
}

/* ---- For the transports --------------------------------------------------------- */

gint
dns_errno_from_gerror (const GError *error)
{
  if (error == NULL)
    return EIO;
  if (error->domain == G_IO_ERROR)
    switch (error->code)
      {
      case G_IO_ERROR_CONNECTION_REFUSED:
        return ECONNREFUSED;
      case G_IO_ERROR_HOST_UNREACHABLE:
        return EHOSTUNREACH;
      case G_IO_ERROR_NETWORK_UNREACHABLE:
        return ENETUNREACH;
      case G_IO_ERROR_TIMED_OUT:
        return ETIMEDOUT;
      case G_IO_ERROR_CONNECTION_CLOSED:
        return ECONNRESET;
      default:
        break;
      }
  if (error->domain == G_TLS_ERROR)
    return EPROTO;
  return EIO;
}

void
dns_shell_complete (DnsShell *sh, guint i, const guint8 *data, gsize len, gint error)
{
  DnsSlot *s = &sh->slots[i];
  s->busy = FALSE;
  sh->busy_key[i] = 0;
  s->owner = NULL;
  s->error = error;
  s->answer_len = 0;
  if (error == 0)
    {
      if (len > s->answer_cap)
        {
          s->answer_cap = MAX (len, 512);
          s->answer = g_realloc (s->answer, s->answer_cap);
        }
      memcpy (s->answer, data, len);
      s->answer_len = len;
    }
  g_mutex_lock (&sh->lock);
  s->state = DNS_SLOT_DONE;
  sh->sent_key[i] = 0;
  sh->done[(sh->d_head + sh->d_len) % DNS_SLOTS] = i;
  sh->d_len++;
  EmberWaker *wake = NULL;
  if (sh->recv_armed)
    {
      sh->recv_armed = FALSE;
      wake = sh->recv_waker;
    }
  g_mutex_unlock (&sh->lock);
  ember_waker_wake (wake);
}

gint
dns_shell_find (DnsShell *sh, guint upstream, gpointer owner, guint16 id)
{
  guint32 key = dns_slot_key (upstream, id);
  for (guint i = 0; i < DNS_SLOTS; i++)
    if (sh->busy_key[i] == key && sh->slots[i].owner == owner)
      return (gint) i;
  return -1;
}

/* ---- The vtable ------------------------------------------------------------------- */

static void
shell_free (DnsShell *sh)
{
  if (sh->thread != NULL)
    {
      g_atomic_int_set (&sh->stopping, TRUE);
      g_main_context_wakeup (sh->context);
      g_thread_join (sh->thread);
    }
  if (sh->kick_source != NULL)
    {
      g_source_destroy (sh->kick_source);
      g_source_unref (sh->kick_source);
    }
  if (sh->timer_source != NULL)
    {
      g_source_destroy (sh->timer_source);
      g_source_unref (sh->timer_source);
    }
  g_clear_pointer (&sh->context, g_main_context_unref);
  for (guint i = 0; sh->slots != NULL && i < DNS_SLOTS; i++)
    g_free (sh->slots[i].answer);
  g_free (sh->slots);
  g_clear_error (&sh->setup_error);
  dns_config_clear (&sh->config);
  g_free (sh->log_domain);
  g_mutex_clear (&sh->lock);
  g_cond_clear (&sh->cond);
  g_free ((EmberBackend *) sh);
}

EmberBackend *
dns_shell_open (const EmberBackendArgs *args, const DnsConfigSpec *spec,
                const DnsTransportOps *ops, GError **error)
{
  const char *group = args != NULL && args->group != NULL ? args->group : spec->plugin;
  EmberBackend *be = g_new0 (EmberBackend, 1);
  DnsShell *sh = &be->shell;
  g_mutex_init (&sh->lock);
  g_cond_init (&sh->cond);
  sh->spec = spec;
  sh->ops = ops;
  sh->log_domain = g_strdup (args != NULL && args->log_domain != NULL ? args->log_domain
                                                                        : spec->plugin);
  if (!dns_config_parse (args != NULL ? args->config : NULL, group, spec, &sh->config, error))
    {
      shell_free (sh);
      return NULL;
    }
  sh->slots = g_new0 (DnsSlot, DNS_SLOTS);
  sh->n_free = DNS_SLOTS;
  for (guint i = 0; i < DNS_SLOTS; i++)
    sh->free_slots[i] = DNS_SLOTS - 1 - i;
  sh->context = g_main_context_new ();
  sh->kick_source = g_source_new (&kick_funcs, sizeof (GSource));
  g_source_set_callback (sh->kick_source, NULL, sh, NULL);
  g_source_attach (sh->kick_source, sh->context);
  sh->timer_source = g_source_new (&timer_funcs, sizeof (GSource));
  g_source_set_callback (sh->timer_source, NULL, sh, NULL);
  g_source_attach (sh->timer_source, sh->context);

  g_autofree char *name = g_strdup_printf ("ember-%s", spec->plugin);
  sh->thread = g_thread_new (name, worker_main, sh);
  g_mutex_lock (&sh->lock);
  while (!sh->setup_done)
    g_cond_wait (&sh->cond, &sh->lock);
  g_mutex_unlock (&sh->lock);
  if (sh->setup_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&sh->setup_error));
      g_thread_join (sh->thread);
      sh->thread = NULL;
      shell_free (sh);
      return NULL;
    }
  char buf[EMBER_ADDR_PORT_STRLEN];
  g_log_structured (sh->log_domain, G_LOG_LEVEL_INFO, "MESSAGE",
                    "%s: %u upstream(s)%s, first %s", spec->plugin, sh->config.n_upstreams,
                    sh->config.from_system ? " from the system's resolvers" : "",
                    dns_addr_format (&sh->config.upstreams[0].addr, buf, sizeof buf));
  return be;
}

gint
dns_shell_poll_recv_many (EmberBackend *backend, EmberWaker *waker, EmberPacket *batch, guint max,
                          GError **error)
{
  (void) error;
  DnsShell *sh = &backend->shell;
  guint n = 0;
  gboolean freed = FALSE;
  g_mutex_lock (&sh->lock);
  while (n < max && sh->d_len > 0)
    {
      guint i = sh->done[sh->d_head];
      sh->d_head = (sh->d_head + 1) % DNS_SLOTS;
      sh->d_len--;
      DnsSlot *s = &sh->slots[i];
      EmberPacket *p = &batch[n++];
      p->remote = sh->config.upstreams[s->upstream].addr;
      memset (&p->local, 0, sizeof p->local);
      p->segment_size = 0;
      p->queue = s->via_tcp ? EMBER_DNS_VIA_TCP : EMBER_DNS_VIA_ANY;
      p->error = s->error;
      const guint8 *src = s->error == 0 ? s->answer : s->query;
      gsize len = s->error == 0 ? s->answer_len : s->query_len;
      if (s->error == 0 && len > p->capacity)
        {
          /* The query tells the stub which asker to fail. */
          p->error = EMSGSIZE;
          src = s->query;
          len = s->query_len;
        }
      p->len = MIN (len, p->capacity);
      memcpy (p->data, src, p->len);
      /* Which upstream fails decides where remote = NONE goes. */
      sh->failed_upstream[s->upstream] = s->error;
      s->state = DNS_SLOT_FREE;
      sh->free_slots[sh->n_free++] = i;
      freed = TRUE;
    }
  if (n == 0)
    {
      sh->recv_waker = waker;
      sh->recv_armed = TRUE;
    }
  EmberWaker *wake = NULL;
  if (freed && sh->send_armed)
    {
      sh->send_armed = FALSE;
      wake = sh->send_waker;
    }
  g_mutex_unlock (&sh->lock);
  ember_waker_wake (wake);
  return (gint) n;
}

EmberPoll
dns_shell_poll_send_ready (EmberBackend *backend, EmberWaker *waker, GError **error)
{
  (void) error;
  DnsShell *sh = &backend->shell;
  EmberPoll r = EMBER_POLL_READY;
  g_mutex_lock (&sh->lock);
  if (sh->n_free == 0)
    {
      sh->send_waker = waker;
      sh->send_armed = TRUE;
      r = EMBER_POLL_PENDING;
    }
  g_mutex_unlock (&sh->lock);
  return r;
}

static gint
upstream_index (DnsShell *sh, const EmberAddr *remote)
{
  if (remote->family == EMBER_ADDR_NONE)
    {
      /* The first upstream whose last query did not fail. */
      for (guint k = 0; k < sh->config.n_upstreams; k++)
        {
          guint i = (sh->preferred + k) % sh->config.n_upstreams;
          if (sh->failed_upstream[i] == 0)
            {
              sh->preferred = i;
              return (gint) i;
            }
        }
      sh->preferred = (sh->preferred + 1) % sh->config.n_upstreams;
      return (gint) sh->preferred;
    }
  for (guint i = 0; i < sh->config.n_upstreams; i++)
    if (dns_addr_eq (&sh->config.upstreams[i].addr, remote))
      return (gint) i;
  return -1;
}

gboolean
dns_shell_send (EmberBackend *backend, const EmberPacket *packet, GError **error)
{
  DnsShell *sh = &backend->shell;
  char buf[EMBER_ADDR_PORT_STRLEN];
  if (packet->len < DNS_HEADER_LEN || packet->len > EMBER_DNS_QUERY_MAX)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "%s: a DNS query of %" G_GSIZE_FORMAT " bytes (expected %d to %d)",
                   sh->spec->plugin, packet->len, DNS_HEADER_LEN, EMBER_DNS_QUERY_MAX);
      return FALSE;
    }
  gint u = upstream_index (sh, &packet->remote);
  if (u < 0)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "%s: %s is not one of the configured upstreams", sh->spec->plugin,
                   dns_addr_format (&packet->remote, buf, sizeof buf));
      return FALSE;
    }
  guint16 id = dns_msg_id (packet->data);
  g_mutex_lock (&sh->lock);
  if (sh->n_free == 0)
    {
      g_mutex_unlock (&sh->lock);
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "%s: every in-flight slot is taken (send without poll_send_ready)",
                   sh->spec->plugin);
      return FALSE;
    }
  guint32 key = dns_slot_key ((guint) u, id);
  for (guint i = 0; i < DNS_SLOTS; i++)
    if (sh->sent_key[i] == key)
      {
        g_mutex_unlock (&sh->lock);
        g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                     "%s: query id %u is already in flight to %s", sh->spec->plugin, id,
                     dns_addr_format (&sh->config.upstreams[u].addr, buf, sizeof buf));
        return FALSE;
      }
  guint free_slot = sh->free_slots[sh->n_free - 1];
  DnsSlot *s = &sh->slots[free_slot];
  s->upstream = (guint) u;
  s->id = id;
  s->via_tcp = packet->queue == EMBER_DNS_VIA_TCP;
  s->query_len = packet->len;
  memcpy (s->query, packet->data, packet->len);
  s->state = DNS_SLOT_QUEUED;
  sh->sent_key[free_slot] = key;
  sh->n_free--;
  sh->queued[(sh->q_head + sh->q_len) % DNS_SLOTS] = free_slot;
  /* The worker takes queued slots until it finds none, under the lock:
   * only a query into an empty queue needs to wake it. */
  gboolean wake = sh->q_len++ == 0;
  g_mutex_unlock (&sh->lock);
  /* Thread-safe: wakes the worker's context. */
  if (wake)
    g_source_set_ready_time (sh->kick_source, 0);
  return TRUE;
}

void
dns_shell_close (EmberBackend *backend)
{
  shell_free (&backend->shell);
}

static guint
get_upstreams (EmberBackend *backend, EmberAddr *out, guint max)
{
  const DnsConfig *c = &backend->shell.config;
  for (guint i = 0; i < c->n_upstreams && i < max; i++)
    out[i] = c->upstreams[i].addr;
  return c->n_upstreams;
}

const void *
dns_shell_get_control (const char *name)
{
  static const EmberDnsControl control = {
    .size = sizeof control, .get_upstreams = get_upstreams,
  };
  return name != NULL && g_str_equal (name, EMBER_DNS_CONTROL_NAME) ? &control : NULL;
}
