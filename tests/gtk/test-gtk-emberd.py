#!/usr/bin/python3
'''ember-gtk against the real thing: a client emberd signed out, a gateway
emberd and `ember-portal serve` in network namespaces (gtk-<pid>-*), on a
private system bus with the project's bus policy and python-dbusmock's
polkitd template deciding the actions, the app under Xvfb read through
AT-SPI. What the UI shows is checked against what the daemon publishes
and against the namespaces themselves (TUN device, ping).

        gtk-P-pub: br0 192.0.2.1/24, ember-portal serve
          |                        |
   gtk-P-cl 192.0.2.2       gtk-P-gw 192.0.2.3, 10.20.0.1/24
   emberd client            emberd gateway (bus=none)
                                   |
                            gtk-P-lan 10.20.0.10/24

argv: EMBER-GTK-PROGRAM BUILD-ROOT SOURCE-ROOT. Needs root.
'''

import os
import subprocess
import sys

import dbus

from harness import Failure, Harness, act, wait_for

try:
    import pyatspi
except ImportError:  # said as a skip in main()
    pyatspi = None

PORTAL = '192.0.2.1'
PORT = '8080'
URL = f'ws://{PORTAL}:{PORT}'
LAN_HOST = '10.20.0.10'
TUN = 'gtk-tc'
EMBER = 'org.ember.Ember1'
ALL_ACTIONS = ['org.ember.Ember1.connect', 'org.ember.Ember1.disconnect',
               'org.ember.Ember1.sign-in', 'org.ember.Ember1.sign-out',
               'org.ember.Ember1.internet-resource']

# The system bus's shape (method calls denied unless a policy allows
# them), the project's own policy file for Ember's name, room for polkit.
BUS_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:dir={{dir}}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><deny own="*"/>
<deny send_type="method_call"/><allow send_type="signal"/>
<allow send_requested_reply="true" send_type="method_return"/>
<allow send_requested_reply="true" send_type="error"/>
<allow receive_type="method_call"/><allow receive_type="method_return"/>
<allow receive_type="error"/><allow receive_type="signal"/>
<allow send_destination="org.freedesktop.DBus"/>
<allow own="org.freedesktop.PolicyKit1"/>
<allow send_destination="org.freedesktop.PolicyKit1"/></policy>
<include>{policy}</include></busconfig>
'''

POLICY1 = '''{"sites": [{"name": "home"}],
 "resources": [{"name": "lan", "type": "cidr", "address": "10.20.0.0/24", "site": "home"}],
 "groups": [{"name": "staff", "clients": ["laptop"]}],
 "policies": [{"group": "staff", "resource": "lan"}]}
'''
POLICY2 = '''{"sites": [{"name": "home"}],
 "resources": [{"name": "lan", "type": "cidr", "address": "10.20.0.0/24", "site": "home"},
   {"name": "printers", "type": "cidr", "address": "10.30.0.0/24", "site": "home"}],
 "groups": [{"name": "staff", "clients": ["laptop"]}],
 "policies": [{"group": "staff", "resource": "lan"}, {"group": "staff", "resource": "printers"}]}
'''


def is_role(role, name=None):
    return lambda n: n.getRole() == role and (name is None or n.name == name)


def checked(node):
    return node.getState().contains(pyatspi.STATE_CHECKED)


def sh(script):
    return subprocess.run(['sh', '-c', script], capture_output=True, text=True, timeout=60)


class Net:
    def __init__(self, h, build, source):
        self.h = h
        self.build = build
        self.source = source
        self.prefix = f'gtk-{os.getpid()}'
        self.names = [f'{self.prefix}-{n}' for n in ('pub', 'cl', 'gw', 'lan')]
        self.dir = h.tmp

    def ns(self, name):
        return f'{self.prefix}-{name}'

    def up(self):
        pub, cl, gw, lan = self.names
        r = sh(f'''set -e
for n in {pub} {cl} {gw} {lan}; do ip netns add $n; ip -n $n link set lo up; done
ip -n {pub} link add br0 type bridge; ip -n {pub} link set br0 up
ip -n {pub} addr add {PORTAL}/24 dev br0
ip link add gtkc0 netns {cl} type veth peer name gtkc1 netns {pub}
ip link add gtkg0 netns {gw} type veth peer name gtkg1 netns {pub}
ip -n {pub} link set gtkc1 master br0 up; ip -n {pub} link set gtkg1 master br0 up
ip -n {cl} addr add 192.0.2.2/24 dev gtkc0; ip -n {cl} link set gtkc0 up
ip -n {gw} addr add 192.0.2.3/24 dev gtkg0; ip -n {gw} link set gtkg0 up
ip link add gtkl0 netns {gw} type veth peer name gtkl1 netns {lan}
ip -n {gw} addr add 10.20.0.1/24 dev gtkl0; ip -n {gw} link set gtkl0 up
ip -n {lan} addr add {LAN_HOST}/24 dev gtkl1; ip -n {lan} link set gtkl1 up
ip -n {lan} route add default via 10.20.0.1
''')
        if r.returncode != 0:
            raise Failure(f'the namespaces: {r.stderr}')

    def down(self):
        for n in self.names:
            subprocess.run(['ip', 'netns', 'del', n], capture_output=True)

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def portal_cli(self, *args):
        r = subprocess.run([os.path.join(self.build, 'bin', 'ember-portal', 'ember-portal'), *args,
                            '--config', os.path.join(self.dir, 'portal.conf')] if args[0] == 'apply'
                           else [os.path.join(self.build, 'bin', 'ember-portal', 'ember-portal'),
                                 args[0], args[1], '--config', os.path.join(self.dir, 'portal.conf'),
                                 *args[2:]],
                           cwd=self.dir, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise Failure(f'ember-portal {" ".join(args)}: {r.stderr}')
        return r.stdout

    def start(self):
        emberd = os.path.join(self.build, 'bin', 'emberd', 'emberd')
        portal = os.path.join(self.build, 'bin', 'ember-portal', 'ember-portal')
        self.write('portal.conf', f'[portal]\nlisten={PORTAL}:{PORT}\nstate-dir=portal-state\n'
                   'insecure=true\nadmin-listen=\n', 0o600)
        self.write('policy1.json', POLICY1)
        self.write('policy2.json', POLICY2)
        self.portal_cli('apply', os.path.join(self.dir, 'policy1.json'))
        self.token = self.portal_cli('token', 'create', 'client', 'laptop').strip().splitlines()[-1]
        gw_token = self.portal_cli('token', 'create', 'gateway', 'gw1', '--site', 'home').strip().splitlines()[-1]
        self.write('gateway.token', gw_token + '\n', 0o600)
        self.write('client.conf', f'[daemon]\nmode=client\nstate-dir={self.dir}/client-state\n'
                   f'runtime-dir={self.dir}/client-run\n[portal]\nurl={URL}\n'
                   f'[dns]\nsystem=none\n[tun-linux]\nname={TUN}\n')
        self.write('gateway.conf', f'[daemon]\nmode=gateway\nbus=none\nstate-dir={self.dir}/gateway-state\n'
                   f'runtime-dir={self.dir}/gateway-run\n[portal]\nurl={URL}\n'
                   f'token-file={self.dir}/gateway.token\n[tun-linux]\nname=gtk-tg\n')
        h = self.h
        h.spawn(['ip', 'netns', 'exec', self.ns('pub'), portal, 'serve', '--config',
                 os.path.join(self.dir, 'portal.conf')], cwd=self.dir)
        wait_for('the portal listening', lambda: f'{PORTAL}:{PORT}' in sh(
            f'ip netns exec {self.ns("pub")} ss -ltn').stdout)
        h.spawn(['ip', 'netns', 'exec', self.ns('gw'), emberd, '--config',
                 os.path.join(self.dir, 'gateway.conf')], cwd=self.dir)
        h.spawn(['ip', 'netns', 'exec', self.ns('cl'), emberd, '--config',
                 os.path.join(self.dir, 'client.conf')], cwd=self.dir)
        bus = h.system_connection()
        wait_for('emberd on the bus', lambda: bus.name_has_owner(EMBER), timeout=30)
        self.props = dbus.Interface(bus.get_object(EMBER, '/org/ember/Ember1'),
                                    'org.freedesktop.DBus.Properties')

    def state(self):
        return str(self.props.Get(EMBER, 'State'))


def main():
    program, build, source = sys.argv[1:4]
    missing = Harness.missing_tools()
    if os.geteuid() != 0:
        missing.append('root (network namespaces)')
    if missing:
        print(f'1..0 # SKIP needs {", ".join(missing)}')
        return 0
    h = Harness('emberd')
    net = Net(h, build, source)
    polkit = None

    def frame():
        return h.find('the main window', is_role(pyatspi.ROLE_FRAME, 'Ember'))

    def tab(name):
        h.find(f'the {name} tab', is_role(pyatspi.ROLE_PAGE_TAB, name), tabs=True).queryAction().doAction(0)

    def connection_switch():
        return h.find('the connection switch', is_role(pyatspi.ROLE_CHECK_BOX, 'Connection'))

    def row_status(name):
        row = h.find(f'the row of {name}', is_role(pyatspi.ROLE_LIST_ITEM, name))
        return [c.name for c in h.find_all(is_role(pyatspi.ROLE_LABEL), row)]

    try:
        policy = os.path.join(source, 'data', 'dbus', 'org.ember.Ember1.conf')
        h.start_display()
        h.start_system_bus(BUS_CONFIG.format(policy=policy))
        _, polkit = h.start_mock('polkitd')
        polkit.SetAllowed(ALL_ACTIONS)
        net.up()
        net.start()

        def app_starts_on_the_sign_in_page():
            h.start_app(program)
            h.wait_text('Sign In to Ember')
            url = h.find('the portal URL entry', lambda n: n.getRole() == pyatspi.ROLE_TEXT
                         and n.name.startswith('Portal URL'))
            # GTK 4.8 answers GetText(0, -1) with "": ask for the length.
            text = url.queryText()
            wait_for('the configured portal URL offered',
                     lambda: text.getText(0, text.characterCount) == URL)

        def sign_in_with_the_real_token_connects():
            entry = h.find('the token entry', lambda n: n.getRole() in (
                pyatspi.ROLE_PASSWORD_TEXT, pyatspi.ROLE_TEXT) and n.name.startswith('Token'))
            entry.queryEditableText().setTextContents(net.token)
            h.find('the sign-in button', is_role(pyatspi.ROLE_PUSH_BUTTON, 'Sign In')).queryAction().doAction(0)
            wait_for('emberd connected', lambda: net.state() == 'connected', timeout=30)
            h.wait_text(f'Connected to {PORTAL}', '100.64.0.1/32', TUN)
            if not checked(connection_switch()):
                raise Failure('the switch is off while emberd is connected')
            # The portal's init named the device after its token
            # (`token create client laptop`): the Name row says so, no "—".
            wait_for('the device named laptop', lambda: 'laptop' in row_status('Name'))

        def resource_row_follows_traffic():
            tab('Resources')
            wait_for('lan not connected', lambda: 'Not connected' in row_status('lan'))
            wait_for('a ping through the tunnel', lambda: sh(
                f'ip netns exec {net.ns("cl")} ping -c 1 -W 1 -q {LAN_HOST}').returncode == 0)
            wait_for('lan connected direct', lambda: 'Connected, direct' in row_status('lan'))
            h.wait_text('10.20.0.0/24 · home')
            h.screenshot('connected-emberd', frame())

        def resource_applied_at_the_portal_appears():
            net.portal_cli('apply', os.path.join(net.dir, 'policy2.json'))
            wait_for('printers in the list', lambda: 'Not connected' in row_status('printers'))

        def switch_disconnects_and_reconnects_the_tunnel():
            tab('Status')
            act('the switch to call Disconnect', lambda: connection_switch().queryAction().doAction(0),
                lambda: net.state() != 'connected' or not checked(connection_switch()))
            wait_for('emberd disconnected', lambda: net.state() == 'disconnected')
            wait_for('the TUN gone', lambda: sh(
                f'ip -n {net.ns("cl")} link show {TUN}').returncode != 0)
            h.wait_text('Disconnected')
            wait_for('the switch off', lambda: not checked(connection_switch()))
            act('the switch to call Connect', lambda: connection_switch().queryAction().doAction(0),
                lambda: net.state() != 'disconnected' or checked(connection_switch()))
            wait_for('emberd connected again', lambda: net.state() == 'connected', timeout=30)
            wait_for('the TUN back', lambda: sh(
                f'ip -n {net.ns("cl")} link show {TUN}').returncode == 0)
            h.wait_text(f'Connected to {PORTAL}')

        def polkit_refusal_is_said_and_nothing_changes():
            polkit.SetAllowed([a for a in ALL_ACTIONS if not a.endswith('.disconnect')])
            connection_switch().queryAction().doAction(0)
            h.wait_text('Not allowed to disconnect', 'org.ember.Ember1.disconnect')
            wait_for('the switch back on', lambda: checked(connection_switch()))
            if net.state() != 'connected':
                raise Failure(f'emberd is {net.state()} after a refused Disconnect')

        steps = [
            ('app-starts-on-the-sign-in-page-with-the-configured-portal', app_starts_on_the_sign_in_page),
            ('sign-in-with-a-real-token-connects-the-daemon', sign_in_with_the_real_token_connects),
            ('resource-row-follows-traffic-to-connected-direct', resource_row_follows_traffic),
            ('resource-applied-at-the-portal-appears-without-restart', resource_applied_at_the_portal_appears),
            ('switch-disconnects-and-reconnects-the-real-tunnel', switch_disconnects_and_reconnects_the_tunnel),
            ('polkit-refusal-is-said-and-the-daemon-stays-connected',
             polkit_refusal_is_said_and_nothing_changes),
        ]
        for name, fn in steps:
            if not h.check(name, fn) and name.startswith(('app-starts', 'sign-in')):
                break
    except Exception as e:
        h.count += 1
        h.failed += 1
        print(f'not ok {h.count} /gtk/emberd/set-up # {e}', flush=True)
    finally:
        h.close()
        net.down()
    return h.finish()


if __name__ == '__main__':
    sys.exit(main())
