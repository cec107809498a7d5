#include "ember-resource.h"

struct _EmberResource
{
  GObject parent_instance;
  char *id;
  char *name;
  char *kind;
  char *address;
  char *site;
  char *status;
  char *relay;
};

G_DEFINE_FINAL_TYPE (EmberResource, ember_resource, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ID,
  PROP_NAME,
  PROP_KIND,
  PROP_ADDRESS,
  PROP_SITE,
  PROP_STATUS,
  PROP_RELAY,
  PROP_STATUS_TEXT,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void
ember_resource_finalize (GObject *object)
{
  EmberResource *self = EMBER_RESOURCE (object);

  g_free (self->id);
  g_free (self->name);
  g_free (self->kind);
  g_free (self->address);
  g_free (self->site);
  g_free (self->status);
  g_free (self->relay);
  G_OBJECT_CLASS (ember_resource_parent_class)->finalize (object);
}

static void
ember_resource_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  EmberResource *self = EMBER_RESOURCE (object);

  switch (prop_id)
    {
    case PROP_ID: g_value_set_string (value, self->id); break;
    case PROP_NAME: g_value_set_string (value, self->name); break;
    case PROP_KIND: g_value_set_string (value, self->kind); break;
    case PROP_ADDRESS: g_value_set_string (value, self->address); break;
    case PROP_SITE: g_value_set_string (value, self->site); break;
    case PROP_STATUS: g_value_set_string (value, self->status); break;
    case PROP_RELAY: g_value_set_string (value, self->relay); break;
    case PROP_STATUS_TEXT:
      g_value_take_string (value, ember_resource_describe_status (self->status));
      break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ember_resource_class_init (EmberResourceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->finalize = ember_resource_finalize;
  object_class->get_property = ember_resource_get_property;

  props[PROP_ID] = g_param_spec_string ("id", NULL, NULL, "", ro);
  props[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, "", ro);
  props[PROP_KIND] = g_param_spec_string ("kind", NULL, NULL, "", ro);
  props[PROP_ADDRESS] = g_param_spec_string ("address", NULL, NULL, "", ro);
  props[PROP_SITE] = g_param_spec_string ("site", NULL, NULL, "", ro);
  props[PROP_STATUS] = g_param_spec_string ("status", NULL, NULL, "", ro);
  props[PROP_RELAY] = g_param_spec_string ("relay", NULL, NULL, "", ro);
  props[PROP_STATUS_TEXT] = g_param_spec_string ("status-text", NULL, NULL, "", ro);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
ember_resource_init (EmberResource *self)
{
  self->name = g_strdup ("");
  self->kind = g_strdup ("");
  self->address = g_strdup ("");
  self->site = g_strdup ("");
  self->status = g_strdup ("not-connected");
  self->relay = g_strdup ("");
}

EmberResource *
ember_resource_new (const char *id)
{
  EmberResource *self = g_object_new (EMBER_TYPE_RESOURCE, NULL);

  self->id = g_strdup (id);
  return self;
}

/* Replaces *field with dict[key] (or "") and notifies when it changed. */
static gboolean
take_field (EmberResource *self, char **field, GVariant *dict, const char *key, guint prop)
{
  const char *value = "";

  g_variant_lookup (dict, key, "&s", &value);
  if (g_strcmp0 (*field, value) == 0)
    return FALSE;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
  return TRUE;
}

void
ember_resource_update (EmberResource *self, GVariant *dict)
{
  gboolean status_changed;

  g_return_if_fail (EMBER_IS_RESOURCE (self));
  g_return_if_fail (g_variant_is_of_type (dict, G_VARIANT_TYPE_VARDICT));

  g_object_freeze_notify (G_OBJECT (self));
  take_field (self, &self->name, dict, "name", PROP_NAME);
  take_field (self, &self->kind, dict, "type", PROP_KIND);
  take_field (self, &self->address, dict, "address", PROP_ADDRESS);
  take_field (self, &self->site, dict, "site", PROP_SITE);
  status_changed = take_field (self, &self->status, dict, "status", PROP_STATUS);
  status_changed |= take_field (self, &self->relay, dict, "relay", PROP_RELAY);
  if (status_changed)
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATUS_TEXT]);
  g_object_thaw_notify (G_OBJECT (self));
}

const char *ember_resource_get_id (EmberResource *self) { return self->id; }
const char *ember_resource_get_name (EmberResource *self) { return self->name; }
const char *ember_resource_get_kind (EmberResource *self) { return self->kind; }
const char *ember_resource_get_address (EmberResource *self) { return self->address; }
const char *ember_resource_get_site (EmberResource *self) { return self->site; }
const char *ember_resource_get_status (EmberResource *self) { return self->status; }
const char *ember_resource_get_relay (EmberResource *self) { return self->relay; }

gboolean
ember_resource_is_internet (EmberResource *self)
{
  return g_strcmp0 (self->kind, "internet") == 0;
}

char *
ember_resource_describe_status (const char *status)
{
  static const struct { const char *status; const char *words; } table[] = {
    { "not-connected", "Not connected" },
    { "connecting", "Connecting…" },
    { "connected-direct", "Connected, direct" },
    { "connected-relayed", "Connected, relayed" },
    { "gateway-offline", "Gateway offline" },
    { "forbidden", "Refused by the gateway" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    if (g_strcmp0 (status, table[i].status) == 0)
      return g_strdup (table[i].words);
  /* The API may grow new states: show them rather than hide them. */
  return g_strdup (status != NULL ? status : "");
}
