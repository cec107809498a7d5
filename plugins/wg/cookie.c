/* cookie.c — mac1/mac2 and cookie replies (see cookie.h). */
#include "cookie.h"

#include <string.h>

#include "blake2s.h"
#include "secret.h"

/* HASH(label || key) */
static void
label_key (guint8 out[EMBER_WG_KEY], const char *label,
           const guint8 key[EMBER_WG_KEY])
{
  EmberWgBlake2s s;

  ember_wg_blake2s_init (&s, EMBER_WG_KEY, NULL, 0);
  ember_wg_blake2s_update (&s, (const guint8 *) label, strlen (label));
  ember_wg_blake2s_update (&s, key, EMBER_WG_KEY);
  ember_wg_blake2s_final (&s, out);
}

/* mac1 covers the message up to itself; mac2 up to itself (§5.4.4). */
static gsize
mac1_offset (gsize len)
{
  return len - 2 * EMBER_WG_MAC;
}

static gsize
mac2_offset (gsize len)
{
  return len - EMBER_WG_MAC;
}

void
ember_wg_cookie_checker_init (EmberWgCookieChecker *c,
                              const guint8 public_key[EMBER_WG_KEY])
{
  memset (c, 0, sizeof *c);
  label_key (c->mac1_key, EMBER_WG_LABEL_MAC1, public_key);
  label_key (c->cookie_key, EMBER_WG_LABEL_COOKIE, public_key);
}

void
ember_wg_cookie_maker_init (EmberWgCookieMaker *m,
                            const guint8 peer_public_key[EMBER_WG_KEY])
{
  memset (m, 0, sizeof *m);
  label_key (m->mac1_key, EMBER_WG_LABEL_MAC1, peer_public_key);
  label_key (m->cookie_key, EMBER_WG_LABEL_COOKIE, peer_public_key);
}

void
ember_wg_cookie_add_macs (EmberWgCookieMaker *m, guint8 *msg, gsize len,
                          gint64 now)
{
  gsize o1 = mac1_offset (len), o2 = mac2_offset (len);

  ember_wg_blake2s (msg + o1, EMBER_WG_MAC, m->mac1_key, EMBER_WG_KEY, msg,
                    o1);
  memcpy (m->last_mac1, msg + o1, EMBER_WG_MAC);
  m->has_sent_mac1 = TRUE;

  /* §5.4.7: use the cookie only while the secret it came from is surely
   * still the responder's current one. */
  if (m->has_cookie
      && now - m->cookie_birth < EMBER_WG_COOKIE_SECRET_MAX_AGE
                                     - EMBER_WG_COOKIE_SECRET_LATENCY)
    ember_wg_blake2s (msg + o2, EMBER_WG_MAC, m->cookie, EMBER_WG_MAC, msg,
                      o2);
  else
    memset (msg + o2, 0, EMBER_WG_MAC);
}

/* The bytes of the source address that a cookie is bound to: the IP
 * address, then the port in network order (§5.4.7 "Am"). */
static gsize
address_bytes (const EmberAddr *from, guint8 out[18])
{
  gsize n = from->family == EMBER_ADDR_IPV6 ? 16
            : from->family == EMBER_ADDR_IPV4 ? 4 : 0;

  memcpy (out, from->addr, n);
  out[n] = (guint8) (from->port >> 8);
  out[n + 1] = (guint8) from->port;
  return n + 2;
}

static void
make_cookie (EmberWgCookieChecker *c, guint8 cookie[EMBER_WG_MAC],
             const EmberAddr *from, gint64 now, const EmberWgRng *rng)
{
  guint8 a[18];
  gsize n;

  /* Rm changes every two minutes (§5.4.7), lazily: no timer needed. */
  if (!c->has_secret || now - c->secret_birth >= EMBER_WG_COOKIE_SECRET_MAX_AGE)
    {
      rng->func (rng->data, c->secret, EMBER_WG_KEY);
      c->secret_birth = now;
      c->has_secret = TRUE;
    }
  n = address_bytes (from, a);
  ember_wg_blake2s (cookie, EMBER_WG_MAC, c->secret, EMBER_WG_KEY, a, n);
}

EmberWgMacState
ember_wg_cookie_validate (EmberWgCookieChecker *c, const guint8 *msg,
                          gsize len, const EmberAddr *from,
                          gboolean check_mac2, gint64 now,
                          const EmberWgRng *rng)
{
  guint8 mac[EMBER_WG_MAC], cookie[EMBER_WG_MAC];
  gsize o1 = mac1_offset (len), o2 = mac2_offset (len);
  EmberWgMacState st = EMBER_WG_MAC_INVALID;

  ember_wg_blake2s (mac, EMBER_WG_MAC, c->mac1_key, EMBER_WG_KEY, msg, o1);
  if (!ember_wg_ct_equal (mac, msg + o1, EMBER_WG_MAC))
    goto out;
  st = EMBER_WG_MAC_VALID_MAC1;
  if (!check_mac2)
    goto out;

  make_cookie (c, cookie, from, now, rng);
  ember_wg_blake2s (mac, EMBER_WG_MAC, cookie, EMBER_WG_MAC, msg, o2);
  if (ember_wg_ct_equal (mac, msg + o2, EMBER_WG_MAC))
    st = EMBER_WG_MAC_VALID_MAC2;

out:
  ember_wg_wipe (cookie, sizeof cookie);
  return st;
}

gboolean
ember_wg_cookie_create_reply (EmberWgCookieChecker *c, EmberWgAead *scratch,
                              const guint8 *msg, gsize len,
                              guint32 receiver_index, const EmberAddr *from,
                              gint64 now, const EmberWgRng *rng, guint8 *out)
{
  gboolean ok;

  memset (out, 0, EMBER_WG_COOKIE_LEN);
  out[0] = EMBER_WG_MSG_COOKIE;
  ember_wg_put_le32 (out + EMBER_WG_COOKIE_RECEIVER, receiver_index);
  rng->func (rng->data, out + EMBER_WG_COOKIE_NONCE_OFF, EMBER_WG_COOKIE_NONCE);
  make_cookie (c, out + EMBER_WG_COOKIE_COOKIE, from, now, rng);
  /* §5.4.7: XAEAD(HASH(LABEL_COOKIE || S_pub), nonce, cookie, mac1). */
  ok = ember_wg_xaead_seal (scratch, c->cookie_key,
                            out + EMBER_WG_COOKIE_NONCE_OFF,
                            msg + mac1_offset (len), EMBER_WG_MAC,
                            out + EMBER_WG_COOKIE_COOKIE, EMBER_WG_MAC);
  return ok;
}

gboolean
ember_wg_cookie_consume_reply (EmberWgCookieMaker *m, EmberWgAead *scratch,
                               const guint8 *reply, gint64 now)
{
  guint8 buf[EMBER_WG_MAC + EMBER_WG_TAG];

  if (!m->has_sent_mac1)
    return FALSE;
  memcpy (buf, reply + EMBER_WG_COOKIE_COOKIE, sizeof buf);
  if (!ember_wg_xaead_open (scratch, m->cookie_key,
                            reply + EMBER_WG_COOKIE_NONCE_OFF, m->last_mac1,
                            EMBER_WG_MAC, buf, sizeof buf))
    {
      ember_wg_wipe (buf, sizeof buf);
      return FALSE;
    }
  memcpy (m->cookie, buf, EMBER_WG_MAC);
  m->cookie_birth = now;
  m->has_cookie = TRUE;
  /* One reply per mac1 we sent: a replayed reply is refused. */
  m->has_sent_mac1 = FALSE;
  ember_wg_wipe (buf, sizeof buf);
  return TRUE;
}
