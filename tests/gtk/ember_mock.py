'''python-dbusmock template: emberd's D-Bus API (org.ember.Ember1) for the
desktop client's tests, with the states that are hard to produce with a
real daemon (a refused action, an unreachable portal, a rejected token).

The methods change State and the other properties the way the API text
in data/dbus/org.ember.Ember1.xml says, each change sent as
PropertiesChanged. Parameters: "State" (default "signed-out"; a signed-in
state comes with an identity, addresses and resources). Control methods
on org.freedesktop.DBus.Mock:
  Refuse(method, error_name, message)  the next calls of method fail with
                                       that error ("" error_name: stop)
Every Ember1 call lands in the mock's call log (GetMethodCalls).
'''

import dbus
from dbusmock import MOCK_IFACE
from gi.repository import GLib

BUS_NAME = 'org.ember.Ember1'
MAIN_OBJ = '/org/ember/Ember1'
MAIN_IFACE = 'org.ember.Ember1'
SYSTEM_BUS = True

PORTAL = 'wss://portal.example.net'
ADDRESSES = ['100.64.0.2/32', 'fd00:2021:1111::2/128']
ERROR = 'org.ember.Ember1.Error.'


def resource(rid, name, kind, address, site, status, **extra):
    entry = {'id': rid, 'name': name, 'type': kind, 'address': address,
             'site': site, 'status': status}
    entry.update(extra)
    return dbus.Dictionary(entry, signature='sv')


def default_resources(internet_on=False):
    return dbus.Array([
        resource('0b6f3c1e-0000-4000-8000-000000000001', 'Intranet', 'cidr',
                 '10.20.0.0/24', 'Office', 'connected-direct'),
        resource('0b6f3c1e-0000-4000-8000-000000000002', 'Wiki', 'dns',
                 'wiki.corp.example', 'Office', 'connecting'),
        resource('0b6f3c1e-0000-4000-8000-000000000003', 'Build farm', 'cidr',
                 '10.30.0.0/16', 'Lab', 'gateway-offline'),
        resource('0b6f3c1e-0000-4000-8000-000000000004', 'Database', 'cidr',
                 '10.40.0.5/32', 'Data centre', 'connected-relayed',
                 relay='192.0.2.20:3478'),
        resource('0b6f3c1e-0000-4000-8000-000000000005', 'Internet', 'internet',
                 '', 'Office', 'not-connected', enabled=dbus.Boolean(internet_on)),
    ], signature='a{sv}')


def signed_in_props(state):
    up = state in ('connected', 'connecting', 'reconnecting')
    return {
        'State': state,
        'PortalUrl': PORTAL,
        'Identity': dbus.Dictionary({'public-key': 'mK2bq4O1Ys0cR0v6sV0Kx8rT2iUo0m1w5y8u3s7pGhA=',
                                     'id': 'c5b1e7a2-4b0e-4c5e-9d1b-2a7f0e6c9d10',
                                     'name': 'alice-laptop'}, signature='sv'),
        'InterfaceName': 'ember0' if up else '',
        'TunnelAddresses': dbus.Array(ADDRESSES if up else [], signature='s'),
        'Resources': default_resources() if up else dbus.Array([], signature='a{sv}'),
        'InternetResource': dbus.Boolean(False),
        'Counters': dbus.Dictionary({'rx-bytes': dbus.UInt64(1536000), 'tx-bytes': dbus.UInt64(204800),
                                     'rx-packets': dbus.UInt64(1200), 'tx-packets': dbus.UInt64(800),
                                     'dropped-packets': dbus.UInt64(0),
                                     'handshakes': dbus.UInt64(3)}, signature='st'),
    }


def signed_out_props():
    return {
        'State': 'signed-out',
        'PortalUrl': '',
        'Identity': dbus.Dictionary({}, signature='sv'),
        'InterfaceName': '',
        'TunnelAddresses': dbus.Array([], signature='s'),
        'Resources': dbus.Array([], signature='a{sv}'),
        'InternetResource': dbus.Boolean(False),
        'Counters': dbus.Dictionary({}, signature='st'),
    }


def load(mock, parameters):
    state = str(parameters.get('State', 'signed-out'))
    props = signed_out_props() if state == 'signed-out' else signed_in_props(state)
    props['Version'] = '0.1.0'
    props['Mode'] = str(parameters.get('Mode', 'client'))
    mock.AddProperties(MAIN_IFACE, dbus.Dictionary(props, signature='sv'))
    mock.ember_refusals = {}


def state_of(mock):
    return str(mock.Get(MAIN_IFACE, 'State'))


def update(mock, props):
    # dbusmock 0.28's UpdateProperties cannot wrap a dictionary value
    # (Identity, Counters) in a variant: set and announce them here.
    for name, value in props.items():
        mock.props[MAIN_IFACE][name] = value
    mock.EmitSignal(dbus.PROPERTIES_IFACE, 'PropertiesChanged', 'sa{sv}as',
                    [MAIN_IFACE, dbus.Dictionary(props, signature='sv'), dbus.Array([], signature='s')])


def check_refused(mock, method):
    refusal = mock.ember_refusals.get(method)
    if refusal is not None:
        raise dbus.exceptions.DBusException(refusal[1], name=refusal[0])


def need_signed_in(mock):
    if state_of(mock) == 'signed-out':
        raise dbus.exceptions.DBusException('emberd is signed out: sign in first',
                                            name=ERROR + 'NotSignedIn')


def later(ms, fn):
    def once():
        fn()
        return False
    GLib.timeout_add(ms, once)


@dbus.service.method(MAIN_IFACE, in_signature='ss', out_signature='')
def SignIn(self, portal_url, token):
    check_refused(self, 'SignIn')
    if state_of(self) != 'signed-out':
        raise dbus.exceptions.DBusException('already signed in: sign out first',
                                            name=ERROR + 'AlreadySignedIn')
    if not token:
        raise dbus.exceptions.DBusException('token: must not be empty',
                                            name='org.freedesktop.DBus.Error.InvalidArgs')
    url = str(portal_url) or PORTAL
    update(self, {'State': 'connecting', 'PortalUrl': url})
    if token.startswith('rejected'):
        # What the daemon does when the portal refuses the token.
        def reject():
            update(self, signed_out_props())
            self.EmitSignal(MAIN_IFACE, 'Error', 'ss',
                            [ERROR + 'TokenRejected', 'the portal rejected the token (invalid_token)'])
        later(200, reject)
    else:
        def joined():
            props = signed_in_props('connected')
            props['PortalUrl'] = url
            update(self, props)
        later(200, joined)


@dbus.service.method(MAIN_IFACE, in_signature='', out_signature='')
def SignOut(self):
    check_refused(self, 'SignOut')
    need_signed_in(self)
    update(self, signed_out_props())


@dbus.service.method(MAIN_IFACE, in_signature='', out_signature='')
def Connect(self):
    check_refused(self, 'Connect')
    need_signed_in(self)
    if state_of(self) == 'disconnected':
        update(self, {'State': 'connecting'})
        later(100, lambda: update(self, signed_in_props('connected')))


@dbus.service.method(MAIN_IFACE, in_signature='', out_signature='')
def Disconnect(self):
    check_refused(self, 'Disconnect')
    need_signed_in(self)
    update(self, {'State': 'disconnected', 'InterfaceName': '',
                  'TunnelAddresses': dbus.Array([], signature='s'),
                  'Resources': dbus.Array([], signature='a{sv}')})


@dbus.service.method(MAIN_IFACE, in_signature='b', out_signature='')
def SetInternetResource(self, enabled):
    check_refused(self, 'SetInternetResource')
    need_signed_in(self)
    resources = dbus.Array(self.Get(MAIN_IFACE, 'Resources'), signature='a{sv}')
    if not any(r.get('type') == 'internet' for r in resources):
        raise dbus.exceptions.DBusException('the policy gives this client no internet resource',
                                            name=ERROR + 'NoInternetResource')
    for r in resources:
        if r.get('type') == 'internet':
            r['enabled'] = dbus.Boolean(enabled)
    update(self, {'InternetResource': dbus.Boolean(enabled), 'Resources': resources})


@dbus.service.method(MAIN_IFACE, in_signature='', out_signature='')
def Reset(self):
    check_refused(self, 'Reset')
    need_signed_in(self)
    update(self, {'State': 'connecting'})
    later(100, lambda: update(self, {'State': 'connected'}))


@dbus.service.method(MOCK_IFACE, in_signature='sss', out_signature='')
def Refuse(self, method, error_name, message):
    if error_name:
        self.ember_refusals[str(method)] = (str(error_name), str(message))
    else:
        self.ember_refusals.pop(str(method), None)
