'''A python-dbusmock template standing in for systemd-resolved: the
org.freedesktop.resolve1.Manager link methods Ember's system DNS control
calls (plugins/dns/sysdns/sysdns-resolved.c). They return nothing; the
test reads dbusmock's call log (org.freedesktop.DBus.Mock.GetCalls).
dbusmock 0.28 has no resolved template of its own.'''

BUS_NAME = 'org.freedesktop.resolve1'
MAIN_OBJ = '/org/freedesktop/resolve1'
MAIN_IFACE = 'org.freedesktop.resolve1.Manager'
SYSTEM_BUS = True


def load(mock, parameters):
    del parameters
    mock.AddMethods(MAIN_IFACE, [
        ('SetLinkDNS', 'ia(iay)', '', ''),
        ('SetLinkDNSEx', 'ia(iayqs)', '', ''),
        ('SetLinkDomains', 'ia(sb)', '', ''),
        ('SetLinkDefaultRoute', 'ib', '', ''),
        ('RevertLink', 'i', '', ''),
    ])
