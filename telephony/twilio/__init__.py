"""Twilio, and nothing but Twilio: webhook verification and handlers, the REST client, TwiML,
the Media Streams wire format and its media consumer. A sibling of telephony.telnyx: the
media session, the bridges and the call actions are the same for both carriers."""
