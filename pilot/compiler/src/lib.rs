//! Pilot's compiler: the service model in, the xDS resources of one proxy out; pure functions.
