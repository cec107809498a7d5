/* identity — who this emberd is to the portal.
 *
 * Owns the device's WireGuard private key and its external id, both
 * created once in the state directory and read back on every start:
 *   <state-dir>/            0700 (created, or tightened when group/other
 *                           could enter it)
 *   <state-dir>/private.key 0600, the base64 key as `wg genkey` writes it
 *   <state-dir>/external-id 0600, 32 hex digits, the portal's device id
 * Files are written to a temporary name and renamed, so a crash leaves
 * either no file or a whole one. A key file others can read is refused
 * (the error says which mode was found).
 *
 * And the bearer token, from the first of: the config's token-file,
 * $EMBER_TOKEN, $CREDENTIALS_DIRECTORY/ember-token (a systemd
 * credential). Which one was used is logged; the token never is.
 * Surrounding white space (a trailing newline) is not part of it.
 *
 * The token given to the D-Bus method SignIn is stored with its portal:
 *   <state-dir>/token       0600, the token
 *   <state-dir>/portal-url  0600, the portal it belongs to
 * and comes before the sources above at the next start.
 *
 * Main thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EMBER_IDENTITY_KEY_FILE "private.key"
#define EMBER_IDENTITY_ID_FILE "external-id"
#define EMBER_IDENTITY_KEY_SIZE 32
#define EMBER_IDENTITY_TOKEN_FILE "token"
#define EMBER_IDENTITY_PORTAL_FILE "portal-url"

typedef struct {
  guint8 private_key[EMBER_IDENTITY_KEY_SIZE];
  char *external_id;
  /* Whether this start created the key (a new device for the portal). */
  gboolean created;
} EmberIdentity;

/* Reads or creates the key and the id in `state_dir`. */
EmberIdentity *ember_identity_load (const char *state_dir, GError **error);
/* Wipes the key. */
void ember_identity_free (EmberIdentity *identity);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberIdentity, ember_identity_free)

/* The token (see above); `token_file` may be NULL. *source says where
 * it came from ("token-file /etc/ember/token", "$EMBER_TOKEN",
 * "$CREDENTIALS_DIRECTORY/ember-token"). The caller wipes and frees it
 * with ember_identity_token_free(). */
char *ember_identity_load_token (const char *token_file, char **source, GError **error);
void ember_identity_token_free (char *token);

/* SignIn's token and its portal URL (*portal_url, to free). NULL
 * without an error when none is stored. */
char *ember_identity_load_stored_token (const char *state_dir, char **portal_url,
                                        GError **error);
/* Writes both (0600, temporary file then rename), creating the state
 * directory 0700. */
gboolean ember_identity_store_token (const char *state_dir, const char *portal_url,
                                     const char *token, GError **error);
/* Deletes both; none there is success. */
gboolean ember_identity_delete_token (const char *state_dir, GError **error);

G_END_DECLS
