//! The proxy's xDS client: one aggregated stream to Pilot, ACK and NACK, reconnect with backoff.
