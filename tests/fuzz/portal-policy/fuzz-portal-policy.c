/* fuzz-portal-policy: parse arbitrary bytes as an `apply` policy file.
 * Whatever the parser accepts must be self-consistent: every reference
 * resolves inside the file, names are unique, addresses are canonical
 * (parsing their text again gives the same text), port ranges are
 * ordered. Any violation aborts (a libFuzzer crash). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/pattern.h"
#include "net/cidr.h"
#include "policy-file.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check (gboolean ok, const char *what)
{
  if (!ok)
    {
      g_printerr ("invariant broken: %s\n", what);
      abort ();
    }
}

static gboolean
has_name (GPtrArray *items, gsize offset, const char *name)
{
  for (guint i = 0; i < items->len; i++)
    if (g_strcmp0 (G_STRUCT_MEMBER (const char *, items->pdata[i], offset), name) == 0)
      return TRUE;
  return FALSE;
}

static void
check_resource (const EmberPolicyFile *file, const EmberStoreResource *r)
{
  check (g_ptr_array_find_with_equal_func (file->sites, r->site_name, g_str_equal, NULL),
         "a resource's site is one of the file's");
  if (r->type == EMBER_STORE_RESOURCE_CIDR)
    {
      EmberCidr c;
      g_autofree char *again = NULL;
      check (ember_cidr_parse (r->address, EMBER_CIDR_PARSE_STRICT, &c, NULL),
             "a cidr address parses strictly");
      again = ember_cidr_to_string (&c);
      check (g_str_equal (again, r->address), "a cidr address is canonical");
    }
  else if (r->type == EMBER_STORE_RESOURCE_DNS)
    {
      g_autofree char *again = ember_dns_pattern_normalize (r->address, NULL);
      check (again != NULL && g_str_equal (again, r->address), "a dns pattern is canonical");
      /* Matching never crashes on the pattern's own text. */
      (void) ember_dns_pattern_match (r->address, r->address);
    }
  else
    check (r->address == NULL, "an internet resource has no address");
  for (guint j = 0; j < r->filters->len; j++)
    {
      const EmberStoreFilter *f = &g_array_index (r->filters, EmberStoreFilter, j);
      check (f->protocol == EMBER_STORE_PROTOCOL_ICMP || (f->port_start >= 1 && f->port_start <= f->port_end),
             "port ranges are ordered and start at 1");
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (EmberPolicyFile) file = NULL;
  GError *error = NULL;

  file = ember_policy_file_parse ((const char *) data, size, "fuzz.json", &error);
  if (file == NULL)
    {
      check (error != NULL && g_str_has_prefix (error->message, "fuzz.json: "),
             "a refusal names the file");
      g_error_free (error);
      return 0;
    }
  check (error == NULL, "success sets no error");
  for (guint i = 1; i < file->sites->len; i++)
    check (strcmp (file->sites->pdata[i - 1], file->sites->pdata[i]) < 0, "sites unique, sorted");
  for (guint i = 0; i < file->resources->len; i++)
    check_resource (file, file->resources->pdata[i]);
  for (guint i = 0; i < file->policies->len; i++)
    {
      const EmberStorePolicy *p = file->policies->pdata[i];
      check (has_name (file->groups, G_STRUCT_OFFSET (EmberStoreGroup, name), p->group_name),
             "a policy's group is one of the file's");
      check (has_name (file->resources, G_STRUCT_OFFSET (EmberStoreResource, name),
                       p->resource_name),
             "a policy's resource is one of the file's");
      check (!p->has_time_window ||
               (p->start_minute < 1440 && p->end_minute < 1440 && p->start_minute != p->end_minute),
             "a time window is two different times of day");
      check (p->source_cidrs != NULL, "source_cidrs is a vector");
    }
  return 0;
}
