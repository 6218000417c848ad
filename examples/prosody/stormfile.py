"""The Prosody example's storm scenario: the chatting users, and one buggy client per side.

    locust -f stormfile.py --host xmpp://127.0.0.1:5222 --headless -u 13 -r 13 -t 20s

``XmppStormUser`` (perfgate.reference.xmppstorm) opens one connection per login, then fires
every SASL PLAIN login at once as the last seeded account (``user0199``), while ``XmppUser``
chats. ``PERFGATE_STORM_LOGINS``, ``_AT`` and ``_TIMEOUT`` size it (perfgate.toml's
``[scenarios.storm.storm]`` sets them); plain Locust without them fires 10,000 logins at 10 s.
"""

from perfgate.reference.xmpp import XmppUser
from perfgate.reference.xmppstorm import XmppStormUser

__all__ = ["XmppStormUser", "XmppUser"]
