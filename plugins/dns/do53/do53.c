/* do53 — the plain DNS upstream plugin (kind dns, "do53"): RFC 1035
 * over UDP to each configured upstream, over TCP (RFC 7766) when an
 * answer comes back truncated (TC) or the query is marked
 * EMBER_DNS_VIA_TCP. See docs/dns-upstreams.md.
 *
 * Each upstream has one connected UDP socket (so only its own answers
 * reach it, and an ICMP port unreachable comes back as ECONNREFUSED for
 * the queries waiting on it) and one TCP stream (../common/stream.c),
 * opened when first needed and reused. Answers are matched by upstream
 * and message id; the TC retry sends the same query bytes again. UDP
 * goes in batches: the queries the core handed over in one go leave
 * with one sendmmsg() per upstream, answers come in with recvmmsg().
 *
 * Threads: the vtable is the shell's (../common/shell.c); everything in
 * this file runs on the backend's worker thread.
 */
#include <errno.h>
#include <string.h>

#include "shell.h"
#include "stream.h"

typedef struct {
  guint index;
  GSocket *sock;
  GSource *in, *out;
  GQueue backlog;          /* slots that met EAGAIN, in order */
  DnsStream *tcp;
} Upstream;

/* Datagrams per sendmmsg() / recvmmsg(). */
#define DO53_BATCH 16
/* One more than the largest answer: a longer datagram shows as too long. */
#define RECV_LEN (EMBER_DNS_ANSWER_MAX + 1)

typedef struct {
  Upstream up[DNS_MAX_UPSTREAMS];
  guint8 *recv_bufs;       /* DO53_BATCH of RECV_LEN bytes */
} Do53;

static const DnsConfigSpec do53_spec = {
  .plugin = "do53", .default_port = 53, .tls = FALSE, .http = FALSE,
};

/* Every UDP query waiting on `u` fails with `error`. */
static void
fail_udp (DnsShell *sh, Upstream *u, gint error)
{
  for (guint i = 0; i < DNS_SLOTS; i++)
    if (sh->slots[i].busy && sh->slots[i].owner == u)
      {
        g_queue_remove (&u->backlog, GUINT_TO_POINTER (i));
        dns_shell_complete (sh, i, NULL, 0, error);
      }
}

static gboolean out_ready (GSocket *sock, GIOCondition cond, gpointer data);

/* Sends u's backlog from its head, DO53_BATCH queries per sendmmsg();
 * FALSE when the socket would block (the rest stays queued, in order). */
static gboolean
send_backlog (DnsShell *sh, Upstream *u)
{
  while (!g_queue_is_empty (&u->backlog))
    {
      GOutputVector vec[DO53_BATCH];
      GOutputMessage msg[DO53_BATCH];
      guint n = 0;
      for (GList *l = u->backlog.head; l != NULL && n < DO53_BATCH; l = l->next, n++)
        {
          const DnsSlot *s = &sh->slots[GPOINTER_TO_UINT (l->data)];
          vec[n] = (GOutputVector){ s->query, s->query_len };
          msg[n] = (GOutputMessage){ .vectors = &vec[n], .num_vectors = 1 };
        }
      g_autoptr (GError) error = NULL;
      gint sent = g_socket_send_messages (u->sock, msg, n, 0, NULL, &error);
      if (sent > 0)
        {
          for (gint k = 0; k < sent; k++)
            g_queue_pop_head (&u->backlog);
          continue;
        }
      /* The head failed (a later one fails on the next call). */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return FALSE;
      guint i = GPOINTER_TO_UINT (g_queue_pop_head (&u->backlog));
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
        /* An ICMP error from an earlier datagram, reported on this send:
         * it concerns every query on the socket, this one included. */
        fail_udp (sh, u, ECONNREFUSED);
      else
        dns_shell_complete (sh, i, NULL, 0, dns_errno_from_gerror (error));
    }
  return TRUE;
}

static void
flush_backlog (DnsShell *sh, Upstream *u)
{
  gboolean empty = send_backlog (sh, u);
  if (empty && u->out != NULL)
    {
      g_source_destroy (u->out);
      g_clear_pointer (&u->out, g_source_unref);
    }
  else if (!empty && u->out == NULL)
    {
      u->out = g_socket_create_source (u->sock, G_IO_OUT, NULL);
      g_source_set_callback (u->out, G_SOURCE_FUNC (out_ready), sh, NULL);
      g_source_attach (u->out, g_main_context_get_thread_default ());
    }
}

static Upstream *
upstream_of_socket (DnsShell *sh, GSocket *sock)
{
  Do53 *d = sh->transport;
  for (guint k = 0; k < sh->config.n_upstreams; k++)
    if (d->up[k].sock == sock)
      return &d->up[k];
  return NULL;
}

static gboolean
out_ready (GSocket *sock, GIOCondition cond, gpointer data)
{
  (void) cond;
  DnsShell *sh = data;
  Upstream *u = upstream_of_socket (sh, sock);
  g_clear_pointer (&u->out, g_source_unref);
  flush_backlog (sh, u);
  return G_SOURCE_REMOVE;
}

static gboolean
in_ready (GSocket *sock, GIOCondition cond, gpointer data)
{
  (void) cond;
  DnsShell *sh = data;
  Do53 *d = sh->transport;
  Upstream *u = upstream_of_socket (sh, sock);
  /* At most EMBER_BATCH_MAX datagrams (or errors) a round (seed 001). */
  for (guint budget = 0; budget < EMBER_BATCH_MAX;)
    {
      GInputVector vec[DO53_BATCH];
      GInputMessage msg[DO53_BATCH];
      for (guint k = 0; k < DO53_BATCH; k++)
        {
          vec[k] = (GInputVector){ d->recv_bufs + (gsize) k * RECV_LEN, RECV_LEN };
          msg[k] = (GInputMessage){ .vectors = &vec[k], .num_vectors = 1 };
        }
      g_autoptr (GError) error = NULL;
      gint got = g_socket_receive_messages (sock, msg, DO53_BATCH, 0, NULL, &error);
      if (got < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            break;
          /* ICMP unreachable for a datagram we sent (connected socket). */
          fail_udp (sh, u, dns_errno_from_gerror (error));
          budget++;
          continue;
        }
      for (gint k = 0; k < got; k++)
        {
          const guint8 *buf = vec[k].buffer;
          gsize n = msg[k].bytes_received;
          if (n < DNS_HEADER_LEN || n > EMBER_DNS_ANSWER_MAX)
            continue;
          gint i = dns_shell_find (sh, u->index, u, dns_msg_id (buf));
          if (i < 0)
            continue;  /* late (timed out) or not ours */
          if (buf[2] & DNS_FLAG_TC)
            {
              /* RFC 7766 §5: a truncated answer is retried over TCP. */
              sh->slots[i].via_tcp = TRUE;
              dns_stream_submit (u->tcp, (guint) i);
              continue;
            }
          dns_shell_complete (sh, (guint) i, buf, n, 0);
        }
      budget += (guint) got;
      if (got < DO53_BATCH)
        break;
    }
  dns_shell_update_timer (sh);
  return G_SOURCE_CONTINUE;
}

static gboolean
do53_setup (DnsShell *sh, GError **error)
{
  Do53 *d = g_new0 (Do53, 1);
  d->recv_bufs = g_malloc ((gsize) DO53_BATCH * RECV_LEN);
  sh->transport = d;
  for (guint k = 0; k < sh->config.n_upstreams; k++)
    {
      Upstream *u = &d->up[k];
      u->index = k;
      g_queue_init (&u->backlog);
      u->tcp = dns_stream_new (sh, k, FALSE, NULL);
    }
  for (guint k = 0; k < sh->config.n_upstreams; k++)
    {
      Upstream *u = &d->up[k];
      const EmberAddr *a = &sh->config.upstreams[k].addr;
      char buf[EMBER_ADDR_PORT_STRLEN];
      g_autoptr (GError) local = NULL;
      u->sock = g_socket_new (a->family == EMBER_ADDR_IPV4 ? G_SOCKET_FAMILY_IPV4
                                                           : G_SOCKET_FAMILY_IPV6,
                              G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &local);
      g_autoptr (GSocketAddress) sa = dns_addr_to_gsocket (a);
      if (u->sock == NULL || !g_socket_connect (u->sock, sa, NULL, &local))
        {
          g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_IO, "do53: UDP socket to %s: %s",
                       dns_addr_format (a, buf, sizeof buf), local->message);
          return FALSE;
        }
      g_socket_set_blocking (u->sock, FALSE);
      u->in = g_socket_create_source (u->sock, G_IO_IN, NULL);
      g_source_set_callback (u->in, G_SOURCE_FUNC (in_ready), sh, NULL);
      g_source_attach (u->in, g_main_context_get_thread_default ());
    }
  return TRUE;
}

static void
do53_start (DnsShell *sh, guint i)
{
  Do53 *d = sh->transport;
  DnsSlot *s = &sh->slots[i];
  Upstream *u = &d->up[s->upstream];
  if (s->via_tcp)
    {
      dns_stream_submit (u->tcp, i);
      return;
    }
  /* Sent with the others of this round by do53_flush(). */
  s->owner = u;
  g_queue_push_tail (&u->backlog, GUINT_TO_POINTER (i));
}

static void
do53_flush (DnsShell *sh)
{
  Do53 *d = sh->transport;
  for (guint k = 0; k < sh->config.n_upstreams; k++)
    /* With a G_IO_OUT source the socket is full: out_ready sends. */
    if (!g_queue_is_empty (&d->up[k].backlog) && d->up[k].out == NULL)
      flush_backlog (sh, &d->up[k]);
}

static void
do53_forget (DnsShell *sh, guint i)
{
  Do53 *d = sh->transport;
  Upstream *u = &d->up[sh->slots[i].upstream];
  if (sh->slots[i].owner == u)
    g_queue_remove (&u->backlog, GUINT_TO_POINTER (i));
  else if (dns_stream_owns (u->tcp, i))
    dns_stream_forget (u->tcp, i);
}

static void
do53_teardown (DnsShell *sh)
{
  Do53 *d = sh->transport;
  if (d == NULL)
    return;
  for (guint k = 0; k < sh->config.n_upstreams; k++)
    {
      Upstream *u = &d->up[k];
      dns_stream_free (u->tcp);
      GSource **sources[] = { &u->in, &u->out };
      for (guint j = 0; j < G_N_ELEMENTS (sources); j++)
        if (*sources[j] != NULL)
          {
            g_source_destroy (*sources[j]);
            g_clear_pointer (sources[j], g_source_unref);
          }
      g_queue_clear (&u->backlog);
      g_clear_object (&u->sock);
    }
  g_free (d->recv_bufs);
  g_clear_pointer (&sh->transport, g_free);
}

static const DnsTransportOps do53_ops = {
  .setup = do53_setup, .start = do53_start, .flush = do53_flush, .forget = do53_forget,
  .teardown = do53_teardown,
};

static EmberBackend *
do53_open (const EmberBackendArgs *args, GError **error)
{
  return dns_shell_open (args, &do53_spec, &do53_ops, error);
}

static gboolean
do53_validate_config (GKeyFile *config, const char *group, GError **error)
{
  DnsConfig c;
  if (!dns_config_parse (config, group, &do53_spec, &c, error))
    return FALSE;
  dns_config_clear (&c);
  return TRUE;
}

EMBER_PLUGIN_EXPORT const EmberPluginInfo *
ember_plugin_info (void)
{
  static const EmberBackendVtable vtable = {
    .open = do53_open,
    .poll_recv_many = dns_shell_poll_recv_many,
    .poll_send_ready = dns_shell_poll_send_ready,
    .send = dns_shell_send,
    .close = dns_shell_close,
    .validate_config = do53_validate_config,
    .get_control = dns_shell_get_control,
  };
  static const EmberPluginInfo info = {
    .abi_major = EMBER_PLUGIN_ABI_MAJOR,
    .abi_minor = EMBER_PLUGIN_ABI_MINOR,
    .name = "do53",
    .kind = EMBER_PLUGIN_KIND_DNS,
    .description = "DNS upstreams over UDP, with TCP for truncated answers (RFC 1035, 7766)",
    .vtable_size = sizeof vtable,
    .vtable = &vtable,
  };
  return &info;
}
