"""The load for the Prosody example: perfgate's XMPP client users, as perfgate ships them.

    locust -f locustfile.py --host xmpp://127.0.0.1:5222 --headless -u 12 -r 12 -t 10s

``XmppUser`` (perfgate.reference.xmpp) logs in as ``user0000``.. (seed_accounts.py made them),
chats with its online contacts and changes its presence; every step is a Locust request.
"""

from perfgate.reference.xmpp import XmppUser

__all__ = ["XmppUser"]
