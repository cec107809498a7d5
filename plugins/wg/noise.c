/* noise.c — Noise_IKpsk2 create/consume steps (see noise.h).
 *
 * Every step follows the whitepaper §5.4.2-§5.4.5 line by line; the
 * Noise token of each step is in the comment above it. Failures leave
 * the handshake as it was: consumers work on copies and commit at the
 * end, so a forged message cannot disturb a handshake in flight.
 */
#include "noise.h"

#include <string.h>

#include "blake2s.h"
#include "secret.h"
#include "x25519.h"

/* HASH(CONSTRUCTION) and HASH(HASH(CONSTRUCTION) || IDENTIFIER). */
static void
initial_chain (guint8 ck[EMBER_WG_KEY], guint8 hash[EMBER_WG_KEY])
{
  EmberWgBlake2s s;

  ember_wg_blake2s (ck, EMBER_WG_KEY, NULL, 0,
                    (const guint8 *) EMBER_WG_CONSTRUCTION,
                    strlen (EMBER_WG_CONSTRUCTION));
  ember_wg_blake2s_init (&s, EMBER_WG_KEY, NULL, 0);
  ember_wg_blake2s_update (&s, ck, EMBER_WG_KEY);
  ember_wg_blake2s_update (&s, (const guint8 *) EMBER_WG_IDENTIFIER,
                           strlen (EMBER_WG_IDENTIFIER));
  ember_wg_blake2s_final (&s, hash);
}

/* H := HASH(H || data) */
static void
mix_hash (guint8 hash[EMBER_WG_KEY], const guint8 *data, gsize len)
{
  EmberWgBlake2s s;

  ember_wg_blake2s_init (&s, EMBER_WG_KEY, NULL, 0);
  ember_wg_blake2s_update (&s, hash, EMBER_WG_KEY);
  ember_wg_blake2s_update (&s, data, len);
  ember_wg_blake2s_final (&s, hash);
}

/* C := KDF1(C, data) */
static void
mix_chain (guint8 ck[EMBER_WG_KEY], const guint8 *data, gsize len)
{
  ember_wg_kdf (ck, NULL, NULL, ck, data, len);
}

/* (C, k) := KDF2(C, DH(priv, pub)); k may be NULL for KDF1. */
static gboolean
mix_dh (guint8 ck[EMBER_WG_KEY], guint8 *key, const guint8 *priv,
        const guint8 *pub)
{
  guint8 shared[EMBER_WG_KEY];

  if (!ember_wg_x25519 (shared, priv, pub))
    return FALSE;
  ember_wg_kdf (ck, key, NULL, ck, shared, sizeof shared);
  ember_wg_wipe (shared, sizeof shared);
  return TRUE;
}

/* (C, τ, k) := KDF3(C, Q); H := HASH(H || τ) */
static void
mix_psk (guint8 ck[EMBER_WG_KEY], guint8 hash[EMBER_WG_KEY],
         guint8 key[EMBER_WG_KEY], const guint8 psk[EMBER_WG_KEY])
{
  guint8 tau[EMBER_WG_KEY];

  ember_wg_kdf (ck, tau, key, ck, psk, EMBER_WG_KEY);
  mix_hash (hash, tau, sizeof tau);
  ember_wg_wipe (tau, sizeof tau);
}

/* dst := AEAD(k, 0, src, H); H := HASH(H || dst) */
static gboolean
encrypt_and_hash (EmberWgAead *scratch, guint8 *dst, const guint8 *src,
                  gsize len, const guint8 key[EMBER_WG_KEY],
                  guint8 hash[EMBER_WG_KEY])
{
  if (!ember_wg_aead_set_key (scratch, key))
    return FALSE;
  if (len > 0)
    memcpy (dst, src, len);
  if (!ember_wg_aead_seal (scratch, 0, hash, EMBER_WG_KEY, dst, len))
    return FALSE;
  mix_hash (hash, dst, len + EMBER_WG_TAG);
  return TRUE;
}

/* dst := AEAD-open(k, 0, src, H); H := HASH(H || src) */
static gboolean
decrypt_and_hash (EmberWgAead *scratch, guint8 *dst, const guint8 *src,
                  gsize len, const guint8 key[EMBER_WG_KEY],
                  guint8 hash[EMBER_WG_KEY])
{
  guint8 tmp[EMBER_WG_KEY + EMBER_WG_TAG];
  gboolean ok;

  g_assert (len <= EMBER_WG_KEY);  /* programmer error: fixed sizes only */
  memcpy (tmp, src, len + EMBER_WG_TAG);
  ok = ember_wg_aead_set_key (scratch, key)
       && ember_wg_aead_open (scratch, 0, hash, EMBER_WG_KEY, tmp,
                              len + EMBER_WG_TAG);
  if (ok)
    {
      if (len > 0)
        memcpy (dst, tmp, len);
      mix_hash (hash, src, len + EMBER_WG_TAG);
    }
  ember_wg_wipe (tmp, sizeof tmp);
  return ok;
}

static void
new_ephemeral (const EmberWgRng *rng, guint8 priv[EMBER_WG_KEY],
               guint8 pub[EMBER_WG_KEY])
{
  rng->func (rng->data, priv, EMBER_WG_KEY);
  ember_wg_x25519_clamp (priv);
  ember_wg_x25519_public (pub, priv);
}

gboolean
ember_wg_noise_handshake_init (EmberWgHandshake *hs, const EmberWgIdentity *id,
                               const guint8 remote_static[EMBER_WG_KEY],
                               const guint8 *psk)
{
  memset (hs, 0, sizeof *hs);
  memcpy (hs->remote_static, remote_static, EMBER_WG_KEY);
  if (psk != NULL)
    memcpy (hs->psk, psk, EMBER_WG_KEY);
  return ember_wg_x25519 (hs->precomputed_ss, id->private_key, remote_static);
}

void
ember_wg_noise_handshake_clear (EmberWgHandshake *hs)
{
  ember_wg_wipe (hs->ephemeral_private, EMBER_WG_KEY);
  ember_wg_wipe (hs->remote_ephemeral, EMBER_WG_KEY);
  ember_wg_wipe (hs->hash, EMBER_WG_KEY);
  ember_wg_wipe (hs->chaining_key, EMBER_WG_KEY);
  hs->local_index = 0;
  hs->remote_index = 0;
  hs->state = EMBER_WG_HS_ZEROED;
}

void
ember_wg_noise_tai64n (guint8 out[EMBER_WG_TAI64N], gint64 wall_us)
{
  gint64 sec = wall_us / EMBER_WG_SECOND;
  gint64 usec = wall_us % EMBER_WG_SECOND;
  guint64 tai;
  guint32 nsec;

  if (usec < 0)
    {
      sec -= 1;
      usec += EMBER_WG_SECOND;
    }
  tai = EMBER_WG_TAI64_EPOCH + (guint64) sec;
  nsec = (guint32) (usec * 1000) & EMBER_WG_TAI64N_NSEC_MASK;
  /* TAI64N is big endian, so later times compare greater with memcmp. */
  for (int i = 0; i < 8; i++)
    out[i] = (guint8) (tai >> (56 - 8 * i));
  for (int i = 0; i < 4; i++)
    out[8 + i] = (guint8) (nsec >> (24 - 8 * i));
}

gboolean
ember_wg_noise_create_initiation (EmberWgHandshake *hs,
                                  const EmberWgIdentity *id,
                                  EmberWgAead *scratch, const EmberWgRng *rng,
                                  gint64 wall_us, guint32 local_index,
                                  guint8 *msg)
{
  guint8 key[EMBER_WG_KEY];
  guint8 ts[EMBER_WG_TAI64N];
  gboolean ok = FALSE;

  memset (msg, 0, EMBER_WG_INIT_LEN);
  msg[0] = EMBER_WG_MSG_INITIATION;
  ember_wg_put_le32 (msg + EMBER_WG_INIT_SENDER, local_index);

  /* Ci := HASH(CONSTRUCTION); Hi := HASH(HASH(Ci || IDENTIFIER) || Sr) */
  initial_chain (hs->chaining_key, hs->hash);
  mix_hash (hs->hash, hs->remote_static, EMBER_WG_KEY);

  /* e */
  new_ephemeral (rng, hs->ephemeral_private, msg + EMBER_WG_INIT_EPHEMERAL);
  mix_chain (hs->chaining_key, msg + EMBER_WG_INIT_EPHEMERAL, EMBER_WG_KEY);
  mix_hash (hs->hash, msg + EMBER_WG_INIT_EPHEMERAL, EMBER_WG_KEY);

  /* es */
  if (!mix_dh (hs->chaining_key, key, hs->ephemeral_private,
               hs->remote_static))
    goto out;

  /* s */
  if (!encrypt_and_hash (scratch, msg + EMBER_WG_INIT_STATIC, id->public_key,
                         EMBER_WG_KEY, key, hs->hash))
    goto out;

  /* ss (precomputed at peer creation) */
  ember_wg_kdf (hs->chaining_key, key, NULL, hs->chaining_key,
                hs->precomputed_ss, EMBER_WG_KEY);

  /* {t} */
  ember_wg_noise_tai64n (ts, wall_us);
  if (!encrypt_and_hash (scratch, msg + EMBER_WG_INIT_TIMESTAMP, ts,
                         EMBER_WG_TAI64N, key, hs->hash))
    goto out;

  hs->local_index = local_index;
  hs->state = EMBER_WG_HS_CREATED_INITIATION;
  ok = TRUE;

out:
  ember_wg_wipe (key, sizeof key);
  if (!ok)
    ember_wg_noise_handshake_clear (hs);
  return ok;
}

EmberWgHandshake *
ember_wg_noise_consume_initiation (const EmberWgIdentity *id,
                                   EmberWgAead *scratch, const guint8 *msg,
                                   EmberWgLookupStatic lookup,
                                   gpointer lookup_data, gint64 now,
                                   EmberWgResult *result)
{
  guint8 ck[EMBER_WG_KEY], hash[EMBER_WG_KEY], key[EMBER_WG_KEY];
  guint8 s[EMBER_WG_KEY], ts[EMBER_WG_TAI64N];
  const guint8 *e = msg + EMBER_WG_INIT_EPHEMERAL;
  EmberWgHandshake *hs = NULL;

  *result = EMBER_WG_ERR_HANDSHAKE;

  initial_chain (ck, hash);
  mix_hash (hash, id->public_key, EMBER_WG_KEY);

  /* e */
  mix_chain (ck, e, EMBER_WG_KEY);
  mix_hash (hash, e, EMBER_WG_KEY);

  /* es */
  if (!mix_dh (ck, key, id->private_key, e))
    goto fail;

  /* s */
  if (!decrypt_and_hash (scratch, s, msg + EMBER_WG_INIT_STATIC, EMBER_WG_KEY,
                         key, hash))
    goto fail;

  hs = lookup (lookup_data, s);
  if (hs == NULL)
    {
      *result = EMBER_WG_ERR_UNKNOWN;
      goto fail;
    }

  /* ss */
  ember_wg_kdf (ck, key, NULL, ck, hs->precomputed_ss, EMBER_WG_KEY);

  /* {t} */
  if (!decrypt_and_hash (scratch, ts, msg + EMBER_WG_INIT_TIMESTAMP,
                         EMBER_WG_TAI64N, key, hash))
    goto fail;

  /* §5.1: a timestamp not newer than the last accepted one is a replay. */
  if (hs->has_consumed_initiation
      && memcmp (ts, hs->latest_timestamp, EMBER_WG_TAI64N) <= 0)
    {
      *result = EMBER_WG_ERR_REPLAY;
      goto fail;
    }
  if (hs->has_consumed_initiation
      && now - hs->last_initiation_consumption
             < EMBER_WG_MIN_INITIATION_INTERVAL)
    {
      *result = EMBER_WG_ERR_RATE;
      goto fail;
    }

  /* Commit. */
  memcpy (hs->remote_ephemeral, e, EMBER_WG_KEY);
  memcpy (hs->latest_timestamp, ts, EMBER_WG_TAI64N);
  memcpy (hs->hash, hash, EMBER_WG_KEY);
  memcpy (hs->chaining_key, ck, EMBER_WG_KEY);
  hs->remote_index = ember_wg_get_le32 (msg + EMBER_WG_INIT_SENDER);
  hs->has_consumed_initiation = TRUE;
  hs->last_initiation_consumption = now;
  hs->state = EMBER_WG_HS_CONSUMED_INITIATION;
  *result = EMBER_WG_DONE;

  ember_wg_wipe (ck, sizeof ck);
  ember_wg_wipe (hash, sizeof hash);
  ember_wg_wipe (key, sizeof key);
  return hs;

fail:
  ember_wg_wipe (ck, sizeof ck);
  ember_wg_wipe (hash, sizeof hash);
  ember_wg_wipe (key, sizeof key);
  return NULL;
}

gboolean
ember_wg_noise_create_response (EmberWgHandshake *hs, EmberWgAead *scratch,
                                const EmberWgRng *rng, guint32 local_index,
                                guint8 *msg)
{
  guint8 key[EMBER_WG_KEY];
  gboolean ok = FALSE;

  if (hs->state != EMBER_WG_HS_CONSUMED_INITIATION)
    return FALSE;

  memset (msg, 0, EMBER_WG_RESP_LEN);
  msg[0] = EMBER_WG_MSG_RESPONSE;
  ember_wg_put_le32 (msg + EMBER_WG_RESP_SENDER, local_index);
  ember_wg_put_le32 (msg + EMBER_WG_RESP_RECEIVER, hs->remote_index);

  /* e */
  new_ephemeral (rng, hs->ephemeral_private, msg + EMBER_WG_RESP_EPHEMERAL);
  mix_chain (hs->chaining_key, msg + EMBER_WG_RESP_EPHEMERAL, EMBER_WG_KEY);
  mix_hash (hs->hash, msg + EMBER_WG_RESP_EPHEMERAL, EMBER_WG_KEY);

  /* ee */
  if (!mix_dh (hs->chaining_key, NULL, hs->ephemeral_private,
               hs->remote_ephemeral))
    goto out;

  /* se */
  if (!mix_dh (hs->chaining_key, NULL, hs->ephemeral_private,
               hs->remote_static))
    goto out;

  /* psk */
  mix_psk (hs->chaining_key, hs->hash, key, hs->psk);

  /* {} */
  if (!encrypt_and_hash (scratch, msg + EMBER_WG_RESP_EMPTY, NULL, 0, key,
                         hs->hash))
    goto out;

  hs->local_index = local_index;
  hs->state = EMBER_WG_HS_CREATED_RESPONSE;
  ok = TRUE;

out:
  ember_wg_wipe (key, sizeof key);
  if (!ok)
    ember_wg_noise_handshake_clear (hs);
  return ok;
}

EmberWgResult
ember_wg_noise_consume_response (EmberWgHandshake *hs,
                                 const EmberWgIdentity *id,
                                 EmberWgAead *scratch, const guint8 *msg)
{
  guint8 ck[EMBER_WG_KEY], hash[EMBER_WG_KEY], key[EMBER_WG_KEY];
  const guint8 *e = msg + EMBER_WG_RESP_EPHEMERAL;
  EmberWgResult res = EMBER_WG_ERR_HANDSHAKE;

  if (hs->state != EMBER_WG_HS_CREATED_INITIATION)
    return EMBER_WG_ERR_HANDSHAKE;

  memcpy (ck, hs->chaining_key, sizeof ck);
  memcpy (hash, hs->hash, sizeof hash);

  /* e */
  mix_chain (ck, e, EMBER_WG_KEY);
  mix_hash (hash, e, EMBER_WG_KEY);

  /* ee */
  if (!mix_dh (ck, NULL, hs->ephemeral_private, e))
    goto out;

  /* se */
  if (!mix_dh (ck, NULL, id->private_key, e))
    goto out;

  /* psk */
  mix_psk (ck, hash, key, hs->psk);

  /* {} */
  if (!decrypt_and_hash (scratch, NULL, msg + EMBER_WG_RESP_EMPTY, 0, key,
                         hash))
    goto out;

  /* Commit. */
  memcpy (hs->remote_ephemeral, e, EMBER_WG_KEY);
  memcpy (hs->chaining_key, ck, EMBER_WG_KEY);
  memcpy (hs->hash, hash, EMBER_WG_KEY);
  hs->remote_index = ember_wg_get_le32 (msg + EMBER_WG_RESP_SENDER);
  hs->state = EMBER_WG_HS_CONSUMED_RESPONSE;
  res = EMBER_WG_DONE;

out:
  ember_wg_wipe (ck, sizeof ck);
  ember_wg_wipe (hash, sizeof hash);
  ember_wg_wipe (key, sizeof key);
  return res;
}

gboolean
ember_wg_noise_begin_session (EmberWgHandshake *hs, EmberWgSessionKeys *keys)
{
  guint8 first[EMBER_WG_KEY], second[EMBER_WG_KEY];

  if (hs->state != EMBER_WG_HS_CREATED_RESPONSE
      && hs->state != EMBER_WG_HS_CONSUMED_RESPONSE)
    return FALSE;

  /* §5.4.5: (T_send_i, T_recv_i) := KDF2(Ci, ε), mirrored for the
   * responder. */
  ember_wg_kdf (first, second, NULL, hs->chaining_key, NULL, 0);
  keys->initiator = hs->state == EMBER_WG_HS_CONSUMED_RESPONSE;
  memcpy (keys->send_key, keys->initiator ? first : second, EMBER_WG_KEY);
  memcpy (keys->recv_key, keys->initiator ? second : first, EMBER_WG_KEY);
  keys->local_index = hs->local_index;
  keys->remote_index = hs->remote_index;
  ember_wg_wipe (first, sizeof first);
  ember_wg_wipe (second, sizeof second);
  ember_wg_noise_handshake_clear (hs);
  return TRUE;
}
