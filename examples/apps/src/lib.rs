//! Small example applications for the demo and the tests: HTTP, gRPC, WebSocket and TCP echo servers.
