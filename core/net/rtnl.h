/* net/rtnl.h — rtnetlink (NETLINK_ROUTE) requests, Linux only.
 *
 * The one request/acknowledge and dump client of the tree: tun-linux sets
 * up its interface with it, emberd's netconf and netmon add routes and
 * rules and list addresses with it. Each call opens its own socket, so
 * calls are independent, and the socket lives in the network namespace of
 * the calling thread at the time of the call. Every wait is bounded (the
 * kernel answers at once or never).
 *
 * Part of ember-net (not built on Windows). Blocking; control paths only,
 * any thread.
 */
#pragma once

#include <glib.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

G_BEGIN_DECLS

#define EMBER_RTNL_REQ_SIZE 512

/* One request being built: a header, a fixed body, attributes. */
typedef struct {
  union {
    struct nlmsghdr nh;
    guint8 bytes[EMBER_RTNL_REQ_SIZE];
  } u;
} EmberRtnlRequest;

/* Starts a request of `type`; NLM_F_REQUEST | NLM_F_ACK are added to
 * `flags` (NLM_F_ACK is dropped again for NLM_F_DUMP). */
void ember_rtnl_init (EmberRtnlRequest *req, guint16 type, guint16 flags, const void *body,
                      gsize body_len);
/* Appends one attribute. Requests are built from fixed fields by code,
 * so running out of room is a programmer error (asserted). */
void ember_rtnl_attr (EmberRtnlRequest *req, guint16 type, const void *data, gsize len);
void ember_rtnl_attr_u32 (EmberRtnlRequest *req, guint16 type, guint32 value);

/* Sends the request and waits for the kernel's acknowledgement: 0, or the
 * positive errno the kernel (or the socket) answered. */
int ember_rtnl_transact (const EmberRtnlRequest *req);

/* Called for each message of a dump (never NLMSG_DONE / NLMSG_ERROR). */
typedef void (*EmberRtnlDumpFunc) (const struct nlmsghdr *nh, gpointer user_data);

/* Sends a NLM_F_DUMP request and calls `func` for every answer: 0 or a
 * positive errno. */
int ember_rtnl_dump (const EmberRtnlRequest *req, EmberRtnlDumpFunc func, gpointer user_data);

/* Looks up the route to exactly dst/prefix (4 or 16 bytes of `family`,
 * 4 or 6) in `table`: 0 with *found and, when found, *oif its output
 * interface (`prefer_oif` when one of several routes goes there, else
 * the first; 0 for a route without one), or a positive errno. Used after
 * an add answered EEXIST, to tell an identical route from a conflict. */
int ember_rtnl_route_find (guint family, guint32 table, const guint8 *dst, guint prefix,
                           guint32 prefer_oif, gboolean *found, guint32 *oif);

/* Fills tb[0..max] with the attributes found in `len` bytes from `first`
 * (a later duplicate wins; types above max are skipped). tb[type] is NULL
 * for an absent type. Bounds are checked: a malformed attribute ends the
 * walk. */
void ember_rtnl_parse_attrs (const struct rtattr *first, gsize len, const struct rtattr **tb,
                             guint max);
/* The attributes after a message's fixed body of `body_len` bytes. */
void ember_rtnl_parse_msg (const struct nlmsghdr *nh, gsize body_len, const struct rtattr **tb,
                           guint max);
/* Reads a u32 attribute; FALSE if absent or too short. */
gboolean ember_rtnl_attr_get_u32 (const struct rtattr *rta, guint32 *out);

G_END_DECLS
