"""One call's audio, whatever the carrier: the media session and its parts.

`session.MediaSession` is the pipeline (frame → reorder → decode → bridge; agent audio →
pacer → encode → socket). A carrier brings its wire format as a `frames.Wire` and subclasses
`consumer.MediaConsumer` for its socket; the parts (`reorder`, `codecs`, `pacing`,
`recording` with `wav`, `stats`, `heartbeat`) know nothing of carriers or Channels.
"""
