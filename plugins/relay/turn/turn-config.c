/* turn-config — the TURN transport's addresses, configuration and
 * credentials: IP-literal address helpers, parsing and validating the
 * plugin's key-file group (validate_config() and open() share it), and
 * the time-limited (TURN REST) credentials made from `secret` and their
 * renewal. Core's thread only (see turn-transport.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "net/cidr.h"
#include "turn-transport-private.h"

/* ---- Addresses ---------------------------------------------------------- */

gboolean
turn_addr_eq (const EmberAddr *a, const EmberAddr *b)
{
  gsize len = a->family == EMBER_ADDR_IPV4 ? 4 : 16;
  return a->family == b->family && a->port == b->port && memcmp (a->addr, b->addr, len) == 0;
}

gboolean
turn_addr_valid (const EmberAddr *a)
{
  return (a->family == EMBER_ADDR_IPV4 || a->family == EMBER_ADDR_IPV6) && a->port != 0;
}

socklen_t
turn_addr_to_sockaddr (const EmberAddr *a, struct sockaddr_storage *ss)
{
  memset (ss, 0, sizeof *ss);
  if (a->family == EMBER_ADDR_IPV4)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *) ss;
      sin->sin_family = AF_INET;
      sin->sin_port = htons (a->port);
      memcpy (&sin->sin_addr, a->addr, 4);
      return sizeof *sin;
    }
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons (a->port);
  sin6->sin6_scope_id = a->scope_id;
  memcpy (&sin6->sin6_addr, a->addr, 16);
  return sizeof *sin6;
}

void
turn_addr_from_sockaddr (const struct sockaddr_storage *ss, EmberAddr *a)
{
  memset (a, 0, sizeof *a);
  if (ss->ss_family == AF_INET)
    {
      const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;
      a->family = EMBER_ADDR_IPV4;
      a->port = ntohs (sin->sin_port);
      memcpy (a->addr, &sin->sin_addr, 4);
    }
  else if (ss->ss_family == AF_INET6)
    {
      const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;
      a->family = EMBER_ADDR_IPV6;
      a->port = ntohs (sin6->sin6_port);
      a->scope_id = sin6->sin6_scope_id;
      memcpy (a->addr, &sin6->sin6_addr, 16);
    }
}

const char *
turn_addr_format (const EmberAddr *a, char *buf, gsize len)
{
  char text[EMBER_ADDR_PORT_STRLEN];
  g_strlcpy (buf, ember_addr_format_port (a, text), len);
  return buf;
}

/* ---- Configuration ------------------------------------------------------- */

static const char *const known_keys[] = {
  "relays", "username", "password", "secret", "user-id", "dual-stack", "allocate", "fwmark", NULL,
};

static gboolean config_error (GError **error, const char *group, const char *key,
                              const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
config_error (GError **error, const char *group, const char *key, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG, "[%s] %s: %s", group, key,
               what);
  return FALSE;
}

void
turn_wipe_string (char **s)
{
  if (*s != NULL)
    explicit_bzero (*s, strlen (*s));
  g_clear_pointer (s, g_free);
}

void
turn_config_clear (TurnConfig *c)
{
  g_clear_pointer (&c->relays, g_free);
  c->n_relays = 0;
  g_clear_pointer (&c->username, g_free);
  g_clear_pointer (&c->user_id, g_free);
  turn_wipe_string (&c->password);
  turn_wipe_string (&c->secret);
}

/* A non-empty string of at most `max` bytes, or NULL when the key is
 * absent; FALSE (error set) for a bad value. */
static gboolean
get_string (GKeyFile *kf, const char *group, const char *key, gsize max, char **out,
            GError **error)
{
  *out = NULL;
  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;
  char *v = g_key_file_get_string (kf, group, key, NULL);
  if (v == NULL || *v == '\0' || strlen (v) > max)
    {
      if (v != NULL)
        explicit_bzero (v, strlen (v));
      g_free (v);
      return config_error (error, group, key, "expected a non-empty string of at most %"
                           G_GSIZE_FORMAT " bytes", max);
    }
  *out = v;
  return TRUE;
}

static gboolean
get_bool (GKeyFile *kf, const char *group, const char *key, gboolean *out, GError **error)
{
  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;
  g_autoptr (GError) local = NULL;
  *out = g_key_file_get_boolean (kf, group, key, &local);
  if (local != NULL)
    return config_error (error, group, key, "expected true or false");
  return TRUE;
}

gboolean
turn_config_parse (GKeyFile *kf, const char *group, TurnConfig *out, GError **error)
{
  memset (out, 0, sizeof *out);
  if (kf == NULL || !g_key_file_has_group (kf, group))
    return TRUE;

  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (known_keys, keys[i]))
      {
        g_autofree char *list = g_strjoinv (", ", (char **) known_keys);
        return config_error (error, group, keys[i], "unknown key (expected one of: %s)", list);
      }

  if (g_key_file_has_key (kf, group, "relays", NULL))
    {
      gsize n = 0;
      g_auto (GStrv) items = g_key_file_get_string_list (kf, group, "relays", &n, NULL);
      if (n > TURN_MAX_RELAYS)
        return config_error (error, group, "relays", "at most %d relays, got %" G_GSIZE_FORMAT,
                             TURN_MAX_RELAYS, n);
      out->relays = g_new0 (EmberAddr, MAX (n, 1));
      for (gsize i = 0; items != NULL && i < n; i++)
        {
          if (*g_strstrip (items[i]) == '\0')
            continue;
          EmberAddr *a = &out->relays[out->n_relays];
          g_autoptr (GError) local = NULL;
          if (!ember_addr_parse_port (items[i], a, &local))
            {
              config_error (error, group, "relays", "%s (entries separated by ';')",
                            local->message);
              goto fail;
            }
          for (guint k = 0; k < out->n_relays; k++)
            if (turn_addr_eq (&out->relays[k], a))
              {
                config_error (error, group, "relays", "\"%s\" is listed twice", items[i]);
                goto fail;
              }
          out->n_relays++;
        }
    }
  /* The time-limited username is "<10-digit expiry>:<user-id>". */
  if (!get_string (kf, group, "username", EMBER_TURN_CREDENTIAL_MAX, &out->username, error)
      || !get_string (kf, group, "password", EMBER_TURN_CREDENTIAL_MAX, &out->password, error)
      || !get_string (kf, group, "secret", EMBER_TURN_CREDENTIAL_MAX, &out->secret, error)
      || !get_string (kf, group, "user-id", EMBER_TURN_CREDENTIAL_MAX - 16, &out->user_id, error)
      || !get_bool (kf, group, "dual-stack", &out->dual_stack, error)
      || !get_bool (kf, group, "allocate", &out->allocate, error))
    goto fail;
  if (g_key_file_has_key (kf, group, "fwmark", NULL))
    {
      g_autofree char *v = g_key_file_get_string (kf, group, "fwmark", NULL);
      guint64 mark = 0;
      /* Decimal or 0x hex, as wg-quick's FwMark. */
      gboolean ok = v != NULL
                    && (g_str_has_prefix (v, "0x")
                            ? g_ascii_string_to_unsigned (v + 2, 16, 1, G_MAXUINT32, &mark, NULL)
                            : g_ascii_string_to_unsigned (v, 10, 1, G_MAXUINT32, &mark, NULL));
      if (!ok)
        {
          config_error (error, group, "fwmark",
                        "expected a non-zero 32-bit mark, decimal or 0x hex");
          goto fail;
        }
      out->fwmark = (guint32) mark;
    }

  if (out->secret != NULL && out->password != NULL)
    {
      config_error (error, group, "secret", "set either password or secret, not both");
      goto fail;
    }
  if (out->secret != NULL && out->username != NULL)
    {
      config_error (error, group, "username",
                    "not used with secret (the username is made from user-id)");
      goto fail;
    }
  if (out->user_id != NULL && out->secret == NULL)
    {
      config_error (error, group, "user-id", "only used with secret");
      goto fail;
    }
  if (out->password != NULL && out->username == NULL)
    {
      config_error (error, group, "username", "missing (password needs a username)");
      goto fail;
    }
  if (out->username != NULL && out->password == NULL)
    {
      config_error (error, group, "password", "missing (username needs a password)");
      goto fail;
    }
  if (out->n_relays > 0 && out->password == NULL && out->secret == NULL)
    {
      config_error (error, group, "password",
                    "relays need credentials: username and password, or secret");
      goto fail;
    }
  return TRUE;

fail:
  turn_config_clear (out);
  return FALSE;
}

/* The TURN REST scheme (docs/relay.md): username "<unix expiry>:<id>",
 * password base64(HMAC-SHA1(secret, username)). */
static void
rest_credentials (const char *secret, const char *user_id, char **user, char **pass)
{
  gint64 expiry = g_get_real_time () / G_USEC_PER_SEC + TURN_REST_LIFETIME_S;
  *user = g_strdup_printf ("%" G_GINT64_FORMAT ":%s", expiry, user_id);
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  GHmac *h = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) secret, strlen (secret));
  g_hmac_update (h, (const guchar *) *user, (gssize) strlen (*user));
  g_hmac_get_digest (h, digest, &digest_len);
  g_hmac_unref (h);
  *pass = g_base64_encode (digest, digest_len);
  explicit_bzero (digest, sizeof digest);
}

void
turn_renew_rest_credentials (EmberBackend *be, gint64 now)
{
  turn_wipe_string (&be->cred_user);
  turn_wipe_string (&be->cred_pass);
  rest_credentials (be->config.secret, be->config.user_id, &be->cred_user, &be->cred_pass);
  be->rest_renew_at = now + (gint64) (TURN_REST_LIFETIME_S - TURN_REST_RENEW_BEFORE_S)
                              * G_TIME_SPAN_SECOND;
  be->rest_renew_unix = g_get_real_time () / G_USEC_PER_SEC + TURN_REST_LIFETIME_S
                        - TURN_REST_RENEW_BEFORE_S;
  for (guint i = 0; i < be->relays->len; i++)
    {
      Relay *r = g_ptr_array_index (be->relays, i);
      if (r->config_creds)
        ember_turn_client_update_credentials (r->client, now, be->cred_user, be->cred_pass);
    }
}
