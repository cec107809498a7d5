/* Unit tests for net/rtnl.h: requests are built as the kernel expects
 * them, and attribute parsing of a message stays inside its bytes
 * whatever the lengths claim. No sockets. */
#include <string.h>

#include "net/rtnl.h"

static void
test_request_layout (void)
{
  struct rtmsg rtm = { .rtm_family = 2, .rtm_dst_len = 24 };
  EmberRtnlRequest req;
  ember_rtnl_init (&req, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rtm, sizeof rtm);
  g_assert_cmpuint (req.u.nh.nlmsg_flags, ==,
                    NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  g_assert_cmpuint (req.u.nh.nlmsg_len, ==, NLMSG_LENGTH (sizeof rtm));
  guint8 dst[4] = { 10, 20, 0, 0 };
  ember_rtnl_attr (&req, RTA_DST, dst, sizeof dst);
  ember_rtnl_attr_u32 (&req, RTA_OIF, 7);
  /* Two 8-byte attributes after the aligned body. */
  g_assert_cmpuint (req.u.nh.nlmsg_len, ==, NLMSG_LENGTH (sizeof rtm) + 16);

  const struct rtattr *tb[RTA_MAX + 1];
  ember_rtnl_parse_msg (&req.u.nh, sizeof rtm, tb, RTA_MAX);
  g_assert_nonnull (tb[RTA_DST]);
  g_assert_cmpmem (RTA_DATA (tb[RTA_DST]), 4, dst, 4);
  guint32 oif = 0;
  g_assert_true (ember_rtnl_attr_get_u32 (tb[RTA_OIF], &oif));
  g_assert_cmpuint (oif, ==, 7);
  g_assert_null (tb[RTA_GATEWAY]);
  g_assert_false (ember_rtnl_attr_get_u32 (tb[RTA_GATEWAY], &oif));

  /* A dump asks for no ACK; sequence numbers differ. */
  guint32 seq = req.u.nh.nlmsg_seq;
  ember_rtnl_init (&req, RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof rtm);
  g_assert_cmpuint (req.u.nh.nlmsg_flags, ==, NLM_F_REQUEST | NLM_F_DUMP);
  g_assert_cmpuint (req.u.nh.nlmsg_seq, !=, seq);
}

static void
test_parse_stays_in_bounds (void)
{
  /* Attributes whose lengths lie: too short for a header, longer than
   * the buffer, a u32 of two bytes. Parsing stops at the first bad one
   * and never reads past the end (ASan checks the heap copy). */
  struct {
    guint16 len, type;
  } hdrs[] = { { 8, RTA_OIF }, { 2, RTA_DST }, { 200, RTA_GATEWAY }, { 6, RTA_TABLE } };
  for (gsize i = 0; i < G_N_ELEMENTS (hdrs); i++)
    {
      guint8 bytes[16] = { 0 };
      memcpy (bytes, &hdrs[i].len, 2);
      memcpy (bytes + 2, &hdrs[i].type, 2);
      for (gsize len = 0; len <= sizeof bytes; len++)
        {
          guint8 *copy = g_memdup2 (bytes, len);
          const struct rtattr *tb[RTA_MAX + 1];
          ember_rtnl_parse_attrs ((const struct rtattr *) copy, len, tb, RTA_MAX);
          for (guint t = 0; t <= RTA_MAX; t++)
            if (tb[t] != NULL)
              {
                /* Only a whole attribute inside the buffer is reported. */
                g_assert_cmpuint (tb[t]->rta_len, >=, sizeof (struct rtattr));
                g_assert_cmpuint (tb[t]->rta_len, <=, len);
                guint32 v;
                g_assert_true (ember_rtnl_attr_get_u32 (tb[t], &v) == (tb[t]->rta_len >= 8));
              }
          g_free (copy);
        }
    }
  /* A message shorter than its fixed body has no attributes. */
  struct nlmsghdr nh = { .nlmsg_len = NLMSG_LENGTH (4) };
  const struct rtattr *tb[RTA_MAX + 1];
  ember_rtnl_parse_msg (&nh, sizeof (struct rtmsg), tb, RTA_MAX);
  for (guint t = 0; t <= RTA_MAX; t++)
    g_assert_null (tb[t]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/net/rtnl/request/layout", test_request_layout);
  g_test_add_func ("/net/rtnl/parse/stays-in-bounds", test_parse_stays_in_bounds);
  return g_test_run ();
}
