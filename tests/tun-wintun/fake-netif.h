/* fake-netif — the IP Helper calls of tun-wintun over an in-memory
 * interface, recording every call (for the Linux unit tests and the
 * stand-in iphlpapi under Wine).
 *
 * The interface starts with the entries the test puts there; create and
 * delete change them as Windows would (creating an entry that exists is
 * ERROR_OBJECT_ALREADY_EXISTS, deleting an absent one ERROR_NOT_FOUND),
 * and the test may make one call fail. Not thread-safe: IP Helper calls
 * come from the main thread.
 */
#pragma once

#include <glib.h>

#include "ops.h"

G_BEGIN_DECLS

typedef struct {
  GArray *addresses;   /* EmberCidr */
  GArray *routes;      /* EmberCidr, the static ones */
  guint mtu4;
  guint mtu6;
  GPtrArray *calls;    /* "CreateUnicastIpAddressEntry 10.0.0.2/32", ... */
  char *fail_call;     /* a call name that fails with fail_code */
  guint32 fail_code;
} FakeNetif;

FakeNetif *fake_netif_new (void);
void fake_netif_free (FakeNetif *netif);
/* The calls so far joined by "\n", then forgotten. */
char *fake_netif_take_calls (FakeNetif *netif);

extern const WintunNetOps fake_netif_ops;

G_END_DECLS
