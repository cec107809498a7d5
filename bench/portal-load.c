/* bench/portal-load — the load generator of bench/portal.sh: many client
 * sessions against one `ember-portal serve`.
 *
 *   portal-load setup --state-dir DIR --clients N --tokens FILE
 *       creates site "bench", resource "bench-0", group "bench" with
 *       clients bench-1..N and a policy, through the store (one
 *       transaction), and writes one token per line to FILE.
 *   portal-load run --port P --tokens FILE [--concurrency C]
 *                   [--state-dir DIR] [--apply-cmd CMD]
 *       opens one WebSocket per token (plain TCP, epoll, a minimal RFC
 *       6455 client: this process must stay small next to the server),
 *       joins, and waits for every `init`; prints the join times. Then
 *       prints "READY" and, with --state-dir, adds a resource the policy
 *       of every client allows (or runs CMD, e.g. `ember-portal apply`)
 *       and measures until every session got resource_created_or_updated.
 *       Heartbeats every 10 s keep the sessions open meanwhile.
 *
 * Output: one "key value" line per figure, for the script to read.
 */
#include "store.h"
#include "portal/codec.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

typedef enum { ST_CONNECTING, ST_UPGRADING, ST_JOINING, ST_JOINED, ST_DEAD } State;

typedef struct {
  int fd;
  State state;
  char *token;
  GByteArray *in;        /* bytes not yet consumed */
  GByteArray *out;       /* bytes not yet written */
  gint64 start_us, joined_us, changed_us;
} Conn;

static gint64
now_us (void)
{
  return g_get_monotonic_time ();
}

/* ---- setup ------------------------------------------------------------------ */

static int
do_setup (const char *state_dir, guint n, const char *tokens_path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberStore) store = ember_store_open (state_dir, &error);
  if (store == NULL)
    {
      g_printerr ("setup: %s\n", error->message);
      return 1;
    }
  GString *tokens = g_string_new (NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  if (!ember_store_begin (store, &error) || !ember_store_site_put (store, "bench", "bench", &error))
    goto fail;
  EmberStoreResource r = { 0 };
  r.name = (char *) "bench-0";
  r.type = EMBER_STORE_RESOURCE_CIDR;
  r.address = (char *) "10.99.0.0/24";
  r.site_name = (char *) "bench";
  if (!ember_store_resource_put (store, &r, "bench", &error))
    goto fail;
  for (guint i = 1; i <= n; i++)
    {
      char *name = g_strdup_printf ("bench-%u", i);
      g_ptr_array_add (names, name);
      char *t = ember_store_token_create (store, EMBER_STORE_DEVICE_CLIENT, name, NULL, 0, "bench",
                                          NULL, &error);
      if (t == NULL)
        goto fail;
      g_string_append_printf (tokens, "%s\n", t);
      ember_store_secret_free (t);
    }
  g_ptr_array_add (names, NULL);
  if (!ember_store_group_put (store, "bench", (const char *const *) names->pdata, "bench", &error))
    goto fail;
  EmberStorePolicy p = { 0 };
  p.group_name = (char *) "bench";
  p.resource_name = (char *) "bench-0";
  if (!ember_store_policy_put (store, &p, "bench", &error) || !ember_store_commit (store, &error))
    goto fail;
  if (!g_file_set_contents (tokens_path, tokens->str, (gssize) tokens->len, &error))
    goto fail;
  g_string_free (tokens, TRUE);
  g_ptr_array_unref (names);
  return 0;
fail:
  g_printerr ("setup: %s\n", error->message);
  g_string_free (tokens, TRUE);
  g_ptr_array_unref (names);
  return 1;
}

/* ---- a minimal WebSocket client ------------------------------------------------ */

static void
ws_send_text (Conn *c, const char *text)
{
  gsize len = strlen (text);
  guint8 head[14];
  gsize h = 0;
  head[h++] = 0x81; /* FIN, text */
  if (len < 126)
    head[h++] = (guint8) (0x80 | len);
  else
    {
      head[h++] = 0x80 | 126;
      head[h++] = (guint8) (len >> 8);
      head[h++] = (guint8) len;
    }
  guint32 key = g_random_int ();
  guint8 mask[4] = { (guint8) (key >> 24), (guint8) (key >> 16), (guint8) (key >> 8), (guint8) key };
  memcpy (head + h, mask, 4);
  h += 4;
  g_byte_array_append (c->out, head, (guint) h);
  guint off = c->out->len;
  g_byte_array_set_size (c->out, off + (guint) len);
  for (gsize i = 0; i < len; i++)
    c->out->data[off + i] = (guint8) text[i] ^ mask[i & 3];
}

static gboolean
flush_out (Conn *c)
{
  while (c->out->len > 0)
    {
      ssize_t n = send (c->fd, c->out->data, c->out->len, MSG_NOSIGNAL);
      if (n < 0)
        return errno == EAGAIN;
      g_byte_array_remove_range (c->out, 0, (guint) n);
    }
  return TRUE;
}

/* One whole frame from c->in, or FALSE when more bytes are needed. */
static gboolean
ws_next_frame (Conn *c, guint8 *opcode, char **payload)
{
  const guint8 *d = c->in->data;
  gsize have = c->in->len;
  if (have < 2)
    return FALSE;
  gsize h = 2;
  guint64 len = d[1] & 0x7f;
  if (len == 126)
    {
      if (have < 4)
        return FALSE;
      len = (guint64) d[2] << 8 | d[3];
      h = 4;
    }
  else if (len == 127)
    {
      if (have < 10)
        return FALSE;
      len = 0;
      for (int i = 0; i < 8; i++)
        len = len << 8 | d[2 + i];
      h = 10;
    }
  if (have < h + len)
    return FALSE;
  *opcode = d[0] & 0x0f;
  *payload = g_strndup ((const char *) d + h, (gsize) len);
  g_byte_array_remove_range (c->in, 0, (guint) (h + len));
  return TRUE;
}

/* ---- run ------------------------------------------------------------------------ */

typedef struct {
  int ep;
  guint16 port;
  Conn *conns;
  guint n, next, inflight, joined, changed, dead, concurrency;
  gboolean measuring;
} Load;

static void
conn_start (Load *l, Conn *c)
{
  c->fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    {
      g_printerr ("socket: %s\n", g_strerror (errno));
      exit (1);
    }
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (l->port),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  c->start_us = now_us ();
  c->in = g_byte_array_new ();
  c->out = g_byte_array_new ();
  if (connect (c->fd, (struct sockaddr *) &sin, sizeof sin) < 0 && errno != EINPROGRESS)
    {
      g_printerr ("connect: %s\n", g_strerror (errno));
      exit (1);
    }
  guint8 key[32];
  for (guint i = 0; i < sizeof key; i++)
    key[i] = (guint8) g_random_int ();
  g_autofree char *pk64 = g_base64_encode (key, sizeof key);
  g_autofree char *pk = g_uri_escape_string (pk64, NULL, FALSE);
  guint idx = (guint) (c - l->conns);
  g_autofree char *req = g_strdup_printf (
    "GET /client/websocket?public_key=%s&external_id=bench-%u HTTP/1.1\r\n"
    "Host: 127.0.0.1:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Authorization: Bearer %s\r\n\r\n",
    pk, idx, l->port, c->token);
  g_byte_array_append (c->out, (const guint8 *) req, (guint) strlen (req));
  c->state = ST_CONNECTING;
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
  epoll_ctl (l->ep, EPOLL_CTL_ADD, c->fd, &ev);
  l->inflight++;
}

static void
conn_dead (Load *l, Conn *c, const char *why)
{
  if (c->state == ST_DEAD)
    return;
  if (l->dead < 5)
    g_printerr ("session %u: %s\n", (guint) (c - l->conns), why);
  if (c->state != ST_JOINED)
    l->inflight--;
  c->state = ST_DEAD;
  l->dead++;
  close (c->fd);
}

static void
on_frame (Load *l, Conn *c, guint8 opcode, const char *payload)
{
  if (opcode == 8)
    {
      conn_dead (l, c, "closed by the portal");
      return;
    }
  if (opcode != 1)
    return;
  if (c->state == ST_JOINED)
    {
      /* Measuring: a substring test keeps this one-threaded generator
       * from adding a JSON parse per session to the time it measures
       * (the joins above went through the codec). */
      if (l->measuring && c->changed_us == 0
          && strstr (payload, "\"event\":\"resource_created_or_updated\"") != NULL)
        {
          c->changed_us = now_us ();
          l->changed++;
        }
      return;
    }
  g_auto (EmberPortalFrame) f = { 0 };
  if (!ember_portal_frame_parse (payload, strlen (payload), &f, NULL))
    {
      conn_dead (l, c, "a frame the codec refuses");
      return;
    }
  if (c->state == ST_JOINING && strcmp (f.event, "init") == 0)
    {
      c->state = ST_JOINED;
      c->joined_us = now_us ();
      l->joined++;
      l->inflight--;
    }
}

static void
on_event (Load *l, Conn *c, guint32 events)
{
  if (c->state == ST_DEAD)
    return;
  if (events & (EPOLLERR | EPOLLHUP))
    {
      conn_dead (l, c, "connection failed");
      return;
    }
  if (c->state == ST_CONNECTING)
    c->state = ST_UPGRADING;
  if (!flush_out (c))
    {
      conn_dead (l, c, "send failed");
      return;
    }
  for (;;)
    {
      guint8 buf[16384];
      ssize_t n = recv (c->fd, buf, sizeof buf, 0);
      if (n == 0)
        {
          conn_dead (l, c, "closed");
          return;
        }
      if (n < 0)
        break;
      g_byte_array_append (c->in, buf, (guint) n);
    }
  if (c->state == ST_UPGRADING)
    {
      const char *end = c->in->len > 0 ? g_strstr_len ((const char *) c->in->data,
                                                       (gssize) c->in->len, "\r\n\r\n")
                                       : NULL;
      if (end == NULL)
        return;
      if (c->in->len < 12 || memcmp (c->in->data, "HTTP/1.1 101", 12) != 0)
        {
          g_autofree char *line = g_strndup ((const char *) c->in->data, MIN (c->in->len, 200));
          conn_dead (l, c, line);
          return;
        }
      g_byte_array_remove_range (c->in, 0, (guint) (end + 4 - (const char *) c->in->data));
      c->state = ST_JOINING;
      ws_send_text (c, "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\"}");
      flush_out (c);
    }
  guint8 op;
  char *payload;
  while (c->state != ST_DEAD && ws_next_frame (c, &op, &payload))
    {
      on_frame (l, c, op, payload);
      g_free (payload);
    }
}

static void
pump (Load *l, int timeout_ms)
{
  struct epoll_event evs[256];
  int n = epoll_wait (l->ep, evs, G_N_ELEMENTS (evs), timeout_ms);
  for (int i = 0; i < n; i++)
    on_event (l, evs[i].data.ptr, evs[i].events);
  while (l->next < l->n && l->inflight < l->concurrency)
    conn_start (l, &l->conns[l->next++]);
}

static void
heartbeat_all (Load *l)
{
  for (guint i = 0; i < l->n; i++)
    if (l->conns[i].state == ST_JOINED)
      {
        ws_send_text (&l->conns[i],
                      "{\"topic\":\"phoenix\",\"event\":\"heartbeat\",\"payload\":{},\"ref\":\"h\"}");
        flush_out (&l->conns[i]);
      }
}

static int
cmp_i64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static gint64
percentile (GArray *v, double p)
{
  if (v->len == 0)
    return 0;
  qsort (v->data, v->len, sizeof (gint64), cmp_i64);
  guint i = (guint) (p * (v->len - 1));
  return g_array_index (v, gint64, i);
}

static gboolean
apply_change (const char *state_dir, const char *cmd)
{
  g_autoptr (GError) error = NULL;
  if (cmd != NULL)
    {
      gint status = 0;
      if (!g_spawn_command_line_sync (cmd, NULL, NULL, &status, &error)
          || !g_spawn_check_wait_status (status, &error))
        {
          g_printerr ("--apply-cmd: %s\n", error->message);
          return FALSE;
        }
      return TRUE;
    }
  g_autoptr (EmberStore) store = ember_store_open (state_dir, &error);
  if (store == NULL)
    {
      g_printerr ("%s\n", error->message);
      return FALSE;
    }
  EmberStoreResource r = { 0 };
  r.name = (char *) "bench-1";
  r.type = EMBER_STORE_RESOURCE_DNS;
  r.address = (char *) "*.bench.example";
  r.site_name = (char *) "bench";
  EmberStorePolicy p = { 0 };
  p.group_name = (char *) "bench";
  p.resource_name = (char *) "bench-1";
  if (!ember_store_begin (store, &error) || !ember_store_resource_put (store, &r, "bench", &error)
      || !ember_store_policy_put (store, &p, "bench", &error) || !ember_store_commit (store, &error))
    {
      g_printerr ("%s\n", error->message);
      return FALSE;
    }
  return TRUE;
}

static int
do_run (guint16 port, const char *tokens_path, guint concurrency, const char *state_dir,
        const char *apply_cmd)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  if (!g_file_get_contents (tokens_path, &text, NULL, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  g_auto (GStrv) tokens = g_strsplit (g_strstrip (text), "\n", -1);
  Load l = { 0 };
  l.n = g_strv_length (tokens);
  l.port = port;
  l.concurrency = concurrency;
  l.conns = g_new0 (Conn, l.n);
  for (guint i = 0; i < l.n; i++)
    l.conns[i].token = tokens[i];
  l.ep = epoll_create1 (EPOLL_CLOEXEC);

  gint64 t0 = now_us (), last_hb = t0;
  while (l.joined + l.dead < l.n && now_us () - t0 < 300 * G_USEC_PER_SEC)
    {
      pump (&l, 50);
      if (now_us () - last_hb > 10 * G_USEC_PER_SEC)
        {
          heartbeat_all (&l);
          last_hb = now_us ();
        }
    }
  gint64 t_join = now_us () - t0;
  g_autoptr (GArray) lat = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint i = 0; i < l.n; i++)
    if (l.conns[i].state == ST_JOINED)
      {
        gint64 d = l.conns[i].joined_us - l.conns[i].start_us;
        g_array_append_val (lat, d);
      }
  printf ("sessions %u\nfailed %u\njoin_total_s %.3f\njoins_per_s %.0f\n"
          "join_p50_ms %.2f\njoin_p99_ms %.2f\n",
          l.joined, l.dead, (double) t_join / 1e6, l.joined / ((double) t_join / 1e6),
          (double) percentile (lat, 0.5) / 1e3, (double) percentile (lat, 0.99) / 1e3);
  printf ("READY\n");
  fflush (stdout);
  /* Let the script read the server's RSS with everyone joined. */
  char line[64];
  if (fgets (line, sizeof line, stdin) == NULL)
    return 0;

  if (state_dir != NULL || apply_cmd != NULL)
    {
      l.measuring = TRUE;
      gint64 a0 = now_us ();
      if (!apply_change (state_dir, apply_cmd))
        return 1;
      gint64 applied = now_us () - a0;
      while (l.changed < l.joined && now_us () - a0 < 30 * G_USEC_PER_SEC)
        pump (&l, 20);
      g_autoptr (GArray) got = g_array_new (FALSE, FALSE, sizeof (gint64));
      for (guint i = 0; i < l.n; i++)
        if (l.conns[i].changed_us != 0)
          {
            gint64 d = l.conns[i].changed_us - a0;
            g_array_append_val (got, d);
          }
      printf ("apply_s %.3f\nfanout_sessions %u\nfanout_first_s %.3f\nfanout_p50_s %.3f\n"
              "fanout_all_s %.3f\n",
              (double) applied / 1e6, l.changed, (double) percentile (got, 0) / 1e6,
              (double) percentile (got, 0.5) / 1e6,
              got->len == l.joined ? (double) percentile (got, 1) / 1e6 : -1.0);
    }
  for (guint i = 0; i < l.n; i++)
    {
      if (l.conns[i].state != ST_DEAD)
        close (l.conns[i].fd);
      g_byte_array_unref (l.conns[i].in);
      g_byte_array_unref (l.conns[i].out);
    }
  g_free (l.conns);
  close (l.ep);
  return l.dead == 0 ? 0 : 1;
}

int
main (int argc, char **argv)
{
  g_autofree char *state_dir = NULL, *tokens = NULL, *apply_cmd = NULL;
  gint port = 0, clients = 100, concurrency = 200;
  const GOptionEntry entries[] = {
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, "The portal's state directory", "DIR" },
    { "tokens", 0, 0, G_OPTION_ARG_FILENAME, &tokens, "One client token per line", "FILE" },
    { "clients", 0, 0, G_OPTION_ARG_INT, &clients, "setup: clients to create", "N" },
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "run: the portal's port on 127.0.0.1", "PORT" },
    { "concurrency", 0, 0, G_OPTION_ARG_INT, &concurrency, "run: handshakes in flight", "C" },
    { "apply-cmd", 0, 0, G_OPTION_ARG_STRING, &apply_cmd, "run: the change to time", "CMD" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("setup|run - portal load generator");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || tokens == NULL)
    {
      g_printerr ("portal-load: %s\n", error ? error->message : "setup|run and --tokens FILE");
      return 2;
    }
  if (strcmp (argv[1], "setup") == 0 && state_dir != NULL && clients > 0)
    return do_setup (state_dir, (guint) clients, tokens);
  if (strcmp (argv[1], "run") == 0 && port > 0 && port < 65536 && concurrency > 0)
    return do_run ((guint16) port, tokens, (guint) concurrency, state_dir, apply_cmd);
  g_printerr ("portal-load: see --help\n");
  return 2;
}
