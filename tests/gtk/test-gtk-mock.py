#!/usr/bin/python3
'''ember-gtk against a python-dbusmock of org.ember.Ember1 (ember_mock.py)
on a private system bus, under Xvfb, looked at through AT-SPI: the
states a real daemon rarely shows on demand — the daemon away, signed
out, a token rejected, a refused action, an unreachable portal.

argv: EMBER-GTK-PROGRAM
'''

import os
import sys
import time

import dbus

from harness import Failure, Harness, act, wait_for

try:
    import pyatspi
except ImportError:  # said as a skip in main()
    pyatspi = None

MOCK = 'ember_mock.py'
EMBER = 'org.ember.Ember1'
APP_ID = 'org.ember.Client'


def is_role(role, name=None):
    return lambda n: n.getRole() == role and (name is None or n.name == name)


def checked(node):
    return node.getState().contains(pyatspi.STATE_CHECKED)


def calls(mock, method):
    return [list(args) for _, args in mock.GetMethodCalls(method)]


CONTROLS = None  # the roles a user acts on; set once pyatspi is imported


def unnamed_controls(h):
    '''Controls on screen whose accessible name is empty or a class name.
    The eye button of AdwPasswordEntryRow is libadwaita 1.2's own ("GtkImage",
    described "Show Text") and cannot be named from outside.'''
    bad = []
    for n in h.find_all(lambda n: n.getRole() in CONTROLS):
        name = n.name.strip()
        if n.description == 'Show Text':
            continue
        if not name or name.startswith(('Gtk', 'Adw')):
            bad.append(f'{n.getRoleName()} {name!r} ({n.description!r})')
    return bad


def main():
    program = sys.argv[1]
    missing = Harness.missing_tools()
    if missing:
        print(f'1..0 # SKIP needs {", ".join(missing)} (scripts/deps.sh installs them)')
        return 0
    global CONTROLS
    CONTROLS = (pyatspi.ROLE_PUSH_BUTTON, pyatspi.ROLE_TOGGLE_BUTTON, pyatspi.ROLE_CHECK_BOX,
                pyatspi.ROLE_TEXT, pyatspi.ROLE_PASSWORD_TEXT, pyatspi.ROLE_ENTRY,
                pyatspi.ROLE_PAGE_TAB)
    h = Harness('mock')
    notes = None
    mock = None
    mock_proc = None
    app = None

    def frame():
        return h.find('the main window', is_role(pyatspi.ROLE_FRAME, 'Ember'))

    def tab(name):
        h.find(f'the {name} tab', is_role(pyatspi.ROLE_PAGE_TAB, name), tabs=True).queryAction().doAction(0)

    def connection_switch():
        return h.find('the connection switch', is_role(pyatspi.ROLE_CHECK_BOX, 'Connection'))

    try:
        h.start_display()
        h.start_system_bus()
        _, notes = h.start_mock('notification_daemon', system=False)

        def app_starts_without_daemon():
            nonlocal app
            app = h.start_app(program)
            frame()

        def banner_says_daemon_is_not_running():
            h.find('the banner', lambda n: n.getRole() == pyatspi.ROLE_ALERT)
            h.wait_text("Ember's service is not running", 'Ember Is Not Running')
            h.screenshot('daemon-gone', frame())

        def daemon_appears_signed_out_and_sign_in_page_shows():
            nonlocal mock, mock_proc
            mock_proc, mock = h.start_mock(h.source_dir + '/' + MOCK, {'State': 'signed-out'})
            h.wait_text('Sign In to Ember')
            h.wait_no_text("Ember's service is not running")
            h.find('the portal URL entry', lambda n: n.getRole() == pyatspi.ROLE_TEXT
                   and n.name.startswith('Portal URL'))
            h.find('the token entry', lambda n: n.getRole() in (pyatspi.ROLE_PASSWORD_TEXT, pyatspi.ROLE_TEXT) and n.name.startswith('Token'))
            h.find('the sign-in button', is_role(pyatspi.ROLE_PUSH_BUTTON, 'Sign In'))
            h.screenshot('signed-out', frame())
            if unnamed_controls(h):
                raise Failure(f'controls without an accessible name: {unnamed_controls(h)}')

        def sign_in(token):
            url = h.find('the portal URL entry', lambda n: n.getRole() == pyatspi.ROLE_TEXT
                         and n.name.startswith('Portal URL'))
            url.queryEditableText().setTextContents('wss://portal.example.net')
            entry = h.find('the token entry', lambda n: n.getRole() in (pyatspi.ROLE_PASSWORD_TEXT, pyatspi.ROLE_TEXT) and n.name.startswith('Token'))
            entry.queryEditableText().setTextContents(token)
            h.find('the sign-in button', is_role(pyatspi.ROLE_PUSH_BUTTON, 'Sign In')).queryAction().doAction(0)

        def rejected_token_is_said_in_words():
            sign_in('rejected-token')
            wait_for('SignIn called', lambda: calls(mock, 'SignIn'))
            if calls(mock, 'SignIn')[0] != ['wss://portal.example.net', 'rejected-token']:
                raise Failure(f'SignIn got {calls(mock, "SignIn")}')
            h.wait_text('the portal rejected the token (invalid_token)')
            wait_for('a "token rejected" notification', lambda: any(
                'Token Rejected' in str(args[3]) for args in calls(notes, 'Notify')))

        def sign_in_connects_and_shows_status():
            sign_in('good-token')
            h.wait_text('Connected to portal.example.net')
            if not checked(connection_switch()):
                raise Failure('the connection switch is off while connected')
            h.wait_text('alice-laptop', 'wss://portal.example.net', '100.64.0.2/32',
                        'fd00:2021:1111::2/128')
            h.find('a copy button for the tunnel address',
                   is_role(pyatspi.ROLE_PUSH_BUTTON, 'Copy 100.64.0.2/32'))
            wait_for('a "connected" notification', lambda: any(
                'Connected to Ember' in str(args[3]) for args in calls(notes, 'Notify')))

        def resource_rows_show_their_status_in_words():
            tab('Resources')
            expected = {
                'Intranet': 'Connected, direct',
                'Wiki': 'Connecting…',
                'Build farm': 'Gateway offline',
                'Database': 'Connected, relayed',
            }
            for name, status in expected.items():
                row = h.find(f'the row of {name}', is_role(pyatspi.ROLE_LIST_ITEM, name))
                texts = [c.name for c in h.find_all(is_role(pyatspi.ROLE_LABEL), row)]
                if status not in texts:
                    raise Failure(f'the row of {name} shows {texts}, not {status!r}')
                if not row.description.startswith(status + ';'):
                    raise Failure(f'the row of {name} tells screen readers {row.description!r}')
            h.find('the copy button of a resource',
                   is_role(pyatspi.ROLE_PUSH_BUTTON, 'Copy the address of Intranet'))
            h.wait_text('10.20.0.0/24 · Office', '10.40.0.5/32 · Data centre · relay 192.0.2.20:3478')
            h.screenshot('connected', frame())

        def resource_added_appears_without_restart():
            props = dbus.Interface(mock, 'org.freedesktop.DBus.Properties')
            resources = dbus.Array(props.Get(EMBER, 'Resources'), signature='a{sv}')
            resources.append(dbus.Dictionary({'id': '0b6f3c1e-0000-4000-8000-0000000000ff', 'name': 'Printer',
                                              'type': 'cidr', 'address': '10.50.0.9/32', 'site': 'Office',
                                              'status': 'not-connected'}, signature='sv'))
            mock.UpdateProperties(EMBER, {'Resources': resources})
            row = h.find('the row of the new resource', is_role(pyatspi.ROLE_LIST_ITEM, 'Printer'))
            wait_for('its status', lambda: 'Not connected' in
                     [c.name for c in h.find_all(is_role(pyatspi.ROLE_LABEL), row)])

        def status_change_of_one_resource_updates_its_row():
            props = dbus.Interface(mock, 'org.freedesktop.DBus.Properties')
            resources = dbus.Array(props.Get(EMBER, 'Resources'), signature='a{sv}')
            for r in resources:
                if r['name'] == 'Printer':
                    r['status'] = 'connected-direct'
            mock.UpdateProperties(EMBER, {'Resources': resources})
            row = h.find('the row of the new resource', is_role(pyatspi.ROLE_LIST_ITEM, 'Printer'))
            wait_for('its new status', lambda: 'Connected, direct' in
                     [c.name for c in h.find_all(is_role(pyatspi.ROLE_LABEL), row)])

        def search_narrows_the_list():
            h.find('the search button', lambda n: n.getRole() in (pyatspi.ROLE_PUSH_BUTTON, pyatspi.ROLE_TOGGLE_BUTTON)
                   and n.name == 'Search resources').queryAction().doAction(0)
            entry = h.find('the search entry', lambda n: n.getRole() in (pyatspi.ROLE_ENTRY, pyatspi.ROLE_TEXT)
                           and n.name == 'Search resources')
            entry.queryEditableText().setTextContents('no such resource')
            h.wait_text('No resource matches the search.')
            entry.queryEditableText().setTextContents('data centre')
            wait_for('only Database listed', lambda: [n.name for n in h.find_all(
                lambda n: n.getRole() == pyatspi.ROLE_LIST_ITEM and n.name in
                ('Intranet', 'Wiki', 'Build farm', 'Database', 'Printer'))] == ['Database'])
            entry.queryEditableText().setTextContents('')
            h.wait_no_text('No resource matches the search.')
            wait_for('every resource listed again', lambda: len(h.find_all(
                lambda n: n.getRole() == pyatspi.ROLE_LIST_ITEM and n.name in
                ('Intranet', 'Wiki', 'Build farm', 'Database', 'Printer'))) == 5)

        def internet_switch_calls_set_internet_resource():
            switch = h.find('the internet switch', is_role(pyatspi.ROLE_CHECK_BOX, 'Internet Resource'))
            if checked(switch):
                raise Failure('the internet switch is on before anyone turned it on')
            act('SetInternetResource(true)', lambda: switch.queryAction().doAction(0),
                lambda: calls(mock, 'SetInternetResource'))
            wait_for('SetInternetResource(true)', lambda: calls(mock, 'SetInternetResource') == [[True]])
            wait_for('the internet switch on', lambda: checked(switch))
            h.wait_text('All traffic goes through Office')

        def flipping_switch_disconnects_and_reconnects():
            tab('Status')
            act('Disconnect called', lambda: connection_switch().queryAction().doAction(0),
                lambda: len(calls(mock, 'Disconnect')) == 1)
            h.wait_text('Disconnected')
            wait_for('the switch off', lambda: not checked(connection_switch()))
            wait_for('a "disconnected" notification', lambda: any(
                'Disconnected from Ember' in str(args[3]) for args in calls(notes, 'Notify')))
            act('Connect called', lambda: connection_switch().queryAction().doAction(0),
                lambda: len(calls(mock, 'Connect')) == 1)
            h.wait_text('Connected to portal.example.net')
            wait_for('the switch on', lambda: checked(connection_switch()))

        def refused_action_is_said_and_switch_stays():
            mock.Refuse('Disconnect', 'org.freedesktop.DBus.Error.AccessDenied',
                        'not authorized for org.ember.Ember1.disconnect')
            act('the refused Disconnect', lambda: connection_switch().queryAction().doAction(0),
                lambda: len(calls(mock, 'Disconnect')) == 2)
            h.wait_text('Not allowed to disconnect: this computer\'s policy refused it '
                        '(not authorized for org.ember.Ember1.disconnect).')
            wait_for('the switch back on', lambda: checked(connection_switch()))
            h.wait_text('Connected to portal.example.net')
            mock.Refuse('Disconnect', '', '')

        def unreachable_portal_shows_banner():
            mock.UpdateProperties(EMBER, {'State': 'reconnecting'})
            h.wait_text('Cannot reach the portal at wss://portal.example.net')
            mock.EmitSignal(EMBER, 'Error', 'ss',
                            ['org.ember.Ember1.Error.PortalUnreachable',
                             'no answer from the portal for 5 minutes (connection refused)'])
            h.wait_text('The portal is unreachable: no answer from the portal for 5 minutes')
            h.find('the reconnect button', is_role(pyatspi.ROLE_PUSH_BUTTON, 'Reconnect')).queryAction().doAction(0)
            wait_for('Reset called', lambda: calls(mock, 'Reset'))
            h.wait_no_text('The portal is unreachable')

        def sign_out_asks_first_then_signs_out():
            tab('Status')
            h.find('the sign-out button', is_role(pyatspi.ROLE_PUSH_BUTTON, 'Sign Out…')).queryAction().doAction(0)
            # The dialog is a window of its own; find() walks every window.
            dialog_button = h.find('the confirmation', lambda n: n.getRole() == pyatspi.ROLE_PUSH_BUTTON
                                   and 'Sign Out' in n.name.replace('_', '')
                                   and not n.name.endswith('…'))
            if calls(mock, 'SignOut'):
                raise Failure('SignOut called before the user confirmed')
            dialog_button.queryAction().doAction(0)
            wait_for('SignOut called', lambda: len(calls(mock, 'SignOut')) == 1)
            h.wait_text('Sign In to Ember')
            h.wait_no_text('Not allowed to disconnect')
            sign_in('good-token')
            h.wait_text('Connected to portal.example.net')

        def every_control_has_a_name():
            seen = []
            for page in ('Status', 'Resources'):
                tab(page)
                h.wait_text('Connection' if page == 'Status' else 'Intranet')
                seen += unnamed_controls(h)
            if seen:
                raise Failure(f'controls without an accessible name: {seen}')

        def menu_item(label):
            # GtkMenuButton holds the toggle button that acts.
            buttons = h.find_all(is_role(pyatspi.ROLE_PUSH_BUTTON, 'Main menu'))
            buttons[-1].queryAction().doAction(0)
            return h.find(f'the menu item {label}', lambda n: n.getRole() in (
                pyatspi.ROLE_MENU_ITEM, pyatspi.ROLE_CHECK_MENU_ITEM)
                and n.name.replace('_', '') == label)

        def autostart_entry():
            return os.path.join(h.config_home, 'autostart', APP_ID + '.desktop')

        def notified(title):
            return sum(1 for args in calls(notes, 'Notify') if args[3] == title)

        def frames():
            return h.find_all(is_role(pyatspi.ROLE_FRAME, 'Ember'))

        def activate_app():
            app_object = dbus.SessionBus().get_object(APP_ID, '/org/ember/Client')
            dbus.Interface(app_object, 'org.freedesktop.Application').Activate({})

        entry_text = ['']

        def run_in_background_writes_the_autostart_entry():
            if os.path.exists(autostart_entry()):
                raise Failure('an autostart entry before the user asked for one')
            act('the autostart entry', lambda: menu_item('Run in Background').queryAction().doAction(0),
                lambda: os.path.exists(autostart_entry()))
            text = entry_text[0] = open(autostart_entry()).read()
            for line in ('Exec=ember-gtk --background', 'X-GNOME-Autostart-enabled=true'):
                if line not in text.splitlines():
                    raise Failure(f'no "{line}" in the autostart entry:\n{text}')

        def closing_the_window_keeps_the_app_notifying():
            before = notified('Disconnected from Ember')
            close = h.find('the window\'s close button', is_role(pyatspi.ROLE_PUSH_BUTTON, 'Close'))
            act('the window closed', lambda: close.queryAction().doAction(0), lambda: not frames())
            if h.app_proc.poll() is not None:
                raise Failure(f'ember-gtk exited ({h.app_proc.returncode}) with its window')
            mock.UpdateProperties(EMBER, {'State': 'disconnected'})
            wait_for('a "disconnected" notification without a window',
                     lambda: notified('Disconnected from Ember') > before)

        def activating_the_app_shows_the_window_again():
            activate_app()
            frame()
            mock.UpdateProperties(EMBER, {'State': 'connected'})
            h.wait_text('Connected to portal.example.net')

        def background_off_removes_the_autostart_entry():
            act('the autostart entry gone', lambda: menu_item('Run in Background').queryAction().doAction(0),
                lambda: not os.path.exists(autostart_entry()))

        def closing_the_window_quits_without_background():
            close = h.find('the window\'s close button', is_role(pyatspi.ROLE_PUSH_BUTTON, 'Close'))
            act('ember-gtk gone', lambda: close.queryAction().doAction(0),
                lambda: h.app_proc.poll() is not None)

        def background_start_opens_no_window_until_activated():
            # As at login: the entry an earlier run wrote is there.
            with open(autostart_entry(), 'w') as f:
                f.write(entry_text[0])
            h.start_app(program, '--background', wait=False)
            bus = dbus.SessionBus()
            wait_for('org.ember.Client on the session bus', lambda: bus.name_has_owner(APP_ID))
            # Started in the background: running, and no window for a while.
            deadline = 20
            while deadline > 0:
                if h.app_proc.poll() is not None:
                    raise Failure(f'ember-gtk --background exited ({h.app_proc.returncode})')
                if h._find_app() is not None and frames_of(h._find_app()):
                    raise Failure('ember-gtk --background opened a window')
                deadline -= 1
                time.sleep(0.05)
            activate_app()
            h.app = wait_for('ember-gtk on the AT-SPI bus', h._find_app)
            frame()
            h.wait_text("Ember's service is not running")
            item = menu_item('Run in Background')
            if not item.getState().contains(pyatspi.STATE_CHECKED):
                raise Failure('"Run in Background" is off while its autostart entry is there')

        def frames_of(app_node):
            return h.find_all(is_role(pyatspi.ROLE_FRAME, 'Ember'), root=app_node)

        def menu_opens_shortcuts_and_about():
            menu_item('Keyboard Shortcuts').queryAction().doAction(0)
            h.find('the shortcuts window', is_role(pyatspi.ROLE_LABEL, 'Connect or disconnect'))
            menu_item('About Ember').queryAction().doAction(0)
            h.find('the about window', is_role(pyatspi.ROLE_LABEL, '0.1.0'))

        def daemon_gone_shows_banner():
            h.stop(mock_proc)
            h.wait_text("Ember's service is not running", 'Ember Is Not Running')
            wait_for('a "disconnected" notification for the stopped service', lambda: any(
                "Ember's service stopped." in str(args[4]) for args in calls(notes, 'Notify')))

        steps = [
            ('app-starts-without-a-daemon', app_starts_without_daemon),
            ('banner-says-the-daemon-is-not-running', banner_says_daemon_is_not_running),
            ('daemon-appears-signed-out-and-the-sign-in-page-shows',
             daemon_appears_signed_out_and_sign_in_page_shows),
            ('rejected-token-is-said-in-words-and-notified', rejected_token_is_said_in_words),
            ('sign-in-connects-and-shows-identity-and-addresses', sign_in_connects_and_shows_status),
            ('resource-rows-show-their-status-in-words', resource_rows_show_their_status_in_words),
            ('resource-added-appears-without-restart', resource_added_appears_without_restart),
            ('status-change-of-one-resource-updates-its-row', status_change_of_one_resource_updates_its_row),
            ('search-narrows-the-list-by-site', search_narrows_the_list),
            ('internet-switch-calls-set-internet-resource', internet_switch_calls_set_internet_resource),
            ('flipping-the-switch-disconnects-and-reconnects', flipping_switch_disconnects_and_reconnects),
            ('refused-action-is-said-and-the-switch-stays', refused_action_is_said_and_switch_stays),
            ('unreachable-portal-shows-a-banner-with-reconnect', unreachable_portal_shows_banner),
            ('every-control-has-an-accessible-name', every_control_has_a_name),
            ('sign-out-asks-first-then-signs-out', sign_out_asks_first_then_signs_out),
            ('menu-opens-the-shortcuts-and-about-windows', menu_opens_shortcuts_and_about),
            ('run-in-background-writes-the-autostart-entry', run_in_background_writes_the_autostart_entry),
            ('closing-the-window-keeps-the-app-notifying', closing_the_window_keeps_the_app_notifying),
            ('activating-the-app-shows-the-window-again', activating_the_app_shows_the_window_again),
            ('background-off-removes-the-autostart-entry', background_off_removes_the_autostart_entry),
            ('daemon-gone-shows-the-banner-again', daemon_gone_shows_banner),
            ('closing-the-window-quits-without-background', closing_the_window_quits_without_background),
            ('background-start-opens-no-window-until-activated',
             background_start_opens_no_window_until_activated),
        ]
        for name, fn in steps:
            if not h.check(name, fn) and name.startswith('app-starts'):
                break
    finally:
        h.close()
    return h.finish()


if __name__ == '__main__':
    sys.exit(main())
