"""How phonebridge talks to carriers and agents: a carrier-neutral core with carriers beside it.

Data flows downhill, in this order; a module imports only from rooms below its own:

- `telephony.telnyx`: Telnyx, and nothing but Telnyx: webhook verification and handlers, the
  REST client and the `Carrier` it implements, the media wire format, the media consumer and
  its route, provisioning, system checks, and the embedded simulator behind one adapter. A
  second carrier is a sibling package that implements the same interfaces.
- `dialing` (place an outbound call) and `bridges.preparation` (get the Stream call and agent
  ready while the phone rings).
- `actions`: the one layer for commands about a live call (hang up, transfer, DTMF,
  recording, transcription, the apology), whatever the carrier; it turns carrier errors
  into recorded failures.
- `carrier`: what phonebridge asks of a carrier (`Carrier`) and how a carrier says no
  (`CarrierError`).
- `media`: one call's audio, carrier-neutral: the session pipeline (frames, reorder, codecs,
  pacing, recording, statistics, heartbeat) and the consumer base class.
- `bridges`: what answers the caller (echo, or a Stream call with an agent).
- Small shared pieces: `numbers` (E.164), `storable` (JSON a database can keep), `loop_local`
  (one client per event loop), `http`, `tasks` (background work), `control` (reaching a media
  stream on any worker), `reconcile`, `metrics`, `public_host`, `log_context`, `checks`.
"""
