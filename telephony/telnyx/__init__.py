"""Telnyx as phonebridge's carrier (reference: ../shared/telnyx-protocol.md).

Webhooks come in through `views` (verified by `webhooks`, applied by `handlers`); commands go
out through `call_control` (the `telephony.carrier.Carrier` for Telnyx) and `client` (the one
HTTP chokepoint); media arrives on `consumer` (route in `routing`), read by `wire`;
`provisioning` sets an account up; `embedded` mounts the `simulator` in DEBUG.
"""
