from tests.xmpp.prosody_fixture import prosody

__all__ = ["prosody"]
