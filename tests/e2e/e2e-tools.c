/* tests/e2e/e2e-tools.c — the helpers test-e2e runs inside a namespace
 * (it re-executes itself through `ip netns exec`): a STUN Binding probe
 * that shows a NAT's mapping, and two broken portals. */
#include "e2e.h"

#include <errno.h>
#include <gio/gio.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/cidr.h"
#include "stun/message.h"

/* One UDP socket sends a Binding request to every server and prints
 * "local PORT" and then "SERVER MAPPED" per server: an
 * endpoint-independent mapping gives every server the same MAPPED. */
int
e2e_stun_probe (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                           G_SOCKET_PROTOCOL_UDP, &error);
  g_autoptr (GInetAddress) any = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) bind_to = g_inet_socket_address_new (any, 0);
  if (sock == NULL || !g_socket_bind (sock, bind_to, FALSE, &error))
    {
      g_printerr ("stun-probe: %s\n", error->message);
      return 1;
    }
  g_socket_set_timeout (sock, 2);
  g_autoptr (GSocketAddress) local = g_socket_get_local_address (sock, &error);
  g_print ("local %u\n", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));

  for (int i = 0; i < argc; i++)
    {
      g_autoptr (GSocketConnectable) c = g_network_address_parse (argv[i], 3478, &error);
      if (c == NULL)
        {
          g_printerr ("stun-probe: %s: %s\n", argv[i], error->message);
          return 1;
        }
      g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (
        g_network_address_get_hostname (G_NETWORK_ADDRESS (c)));
      g_autoptr (GSocketAddress) to =
        g_inet_socket_address_new (ia, g_network_address_get_port (G_NETWORK_ADDRESS (c)));
      gboolean answered = FALSE;
      for (int attempt = 0; attempt < 3 && !answered; attempt++)
        {
          guint8 txid[EMBER_STUN_TRANSACTION_ID_LEN];
          for (guint k = 0; k < sizeof txid; k++)
            txid[k] = (guint8) g_random_int ();
          guint8 req[64];
          EmberStunBuilder b;
          ember_stun_builder_init (&b, req, sizeof req, EMBER_STUN_METHOD_BINDING,
                                   EMBER_STUN_CLASS_REQUEST, txid);
          gsize len = ember_stun_builder_finish (&b, NULL);
          if (g_socket_send_to (sock, to, (const char *) req, len, NULL, &error) < 0)
            {
              g_printerr ("stun-probe: send to %s: %s\n", argv[i], error->message);
              return 1;
            }
          guint8 buf[1500];
          gssize n;
          g_clear_error (&error);
          while ((n = g_socket_receive (sock, (char *) buf, sizeof buf, NULL, &error)) > 0)
            {
              EmberStunMessage msg;
              EmberAddr mapped;
              if (ember_stun_message_parse (&msg, buf, (gsize) n) != EMBER_STUN_OK
                  || memcmp (msg.transaction_id, txid, sizeof txid) != 0)
                continue;
              if (ember_stun_message_get_xor_address (&msg, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS,
                                                      &mapped)
                  != EMBER_STUN_OK)
                {
                  g_printerr ("stun-probe: %s: no XOR-MAPPED-ADDRESS\n", argv[i]);
                  return 1;
                }
              char text[EMBER_ADDR_PORT_STRLEN];
              g_print ("%s %s\n", argv[i], ember_addr_format_port (&mapped, text));
              answered = TRUE;
              break;
            }
          g_clear_error (&error);
        }
      if (!answered)
        {
          g_printerr ("stun-probe: %s did not answer\n", argv[i]);
          return 1;
        }
    }
  return 0;
}

/* Reads an HTTP request head (up to 8 KiB, 3 s) and returns it. */
static char *
read_head (int fd)
{
  GString *s = g_string_new (NULL);
  char buf[1024];
  while (s->len < 8192 && strstr (s->str, "\r\n\r\n") == NULL)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      if (poll (&p, 1, 3000) <= 0)
        break;
      ssize_t n = read (fd, buf, sizeof buf);
      if (n <= 0)
        break;
      g_string_append_len (s, buf, n);
    }
  return g_string_free (s, FALSE);
}

static char *
websocket_accept (const char *head)
{
  const char *k = strcasestr (head, "\r\nSec-WebSocket-Key:");
  if (k == NULL)
    return NULL;
  k += strlen ("\r\nSec-WebSocket-Key:");
  const char *end = strstr (k, "\r\n");
  g_autofree char *key = g_strstrip (g_strndup (k, (gsize) (end - k)));
  g_autofree char *text = g_strconcat (key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", NULL);
  g_autoptr (GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  g_checksum_update (sha1, (const guchar *) text, -1);
  guint8 digest[20];
  gsize dlen = sizeof digest;
  g_checksum_get_digest (sha1, digest, &dlen);
  return g_base64_encode (digest, dlen);
}

static void
write_all (int fd, const void *data, gsize len)
{
  const char *p = data;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n <= 0)
        return;
      p += n;
      len -= (gsize) n;
    }
}

/* A portal that is not one. MODE "garbage": answers every request with
 * bytes that are not HTTP. MODE "midframe": completes the WebSocket
 * upgrade, then sends the first half of a text frame and closes. Appends
 * one line per connection to LOGFILE; runs until killed. */
int
e2e_fake_portal (const char *mode, const char *listen, const char *logfile)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnectable) c = g_network_address_parse (listen, 0, &error);
  if (c == NULL)
    {
      g_printerr ("fake-portal: %s\n", error->message);
      return 1;
    }
  g_autoptr (GInetAddress) ia =
    g_inet_address_new_from_string (g_network_address_get_hostname (G_NETWORK_ADDRESS (c)));
  g_autoptr (GSocketAddress) addr =
    g_inet_socket_address_new (ia, g_network_address_get_port (G_NETWORK_ADDRESS (c)));
  g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, &error);
  if (sock == NULL || !g_socket_bind (sock, addr, TRUE, &error) || !g_socket_listen (sock, &error))
    {
      g_printerr ("fake-portal: %s: %s\n", listen, error->message);
      return 1;
    }
  FILE *log = fopen (logfile, "a");
  if (log == NULL)
    {
      g_printerr ("fake-portal: %s: %s\n", logfile, g_strerror (errno));
      return 1;
    }
  setvbuf (log, NULL, _IOLBF, 0);
  for (guint n = 1;; n++)
    {
      g_autoptr (GSocket) conn = g_socket_accept (sock, NULL, &error);
      if (conn == NULL)
        {
          g_printerr ("fake-portal: accept: %s\n", error->message);
          return 1;
        }
      int fd = g_socket_get_fd (conn);
      g_autofree char *head = read_head (fd);
      if (g_str_equal (mode, "garbage"))
        {
          static const char junk[] = "\x16\x03\x01\x02\x00\x01\x00\xff garbage \r\n\r\n\x00\x01";
          write_all (fd, junk, sizeof junk);
        }
      else
        {
          g_autofree char *accept_key = websocket_accept (head);
          g_autofree char *answer = g_strdup_printf (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: %s\r\n\r\n",
            accept_key != NULL ? accept_key : "");
          write_all (fd, answer, strlen (answer));
          /* FIN + text, 100 bytes announced, 20 sent. */
          static const char frame[] = "\x81\x64[\"1\",\"1\",\"client\",\"phx";
          write_all (fd, frame, sizeof frame - 1);
          g_usleep (200 * 1000);
        }
      fprintf (log, "connection %u\n", n);
    }
}
