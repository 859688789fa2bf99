"""What every simulated carrier shares: the far party's voice, ear, clock and behaviour.

Django-free, like the carrier simulators built on it (telephony/telnyx/simulator/,
telephony/twilio/simulator/): a carrier's package adds only its own wire formats, signatures,
REST shapes and call states.
"""
