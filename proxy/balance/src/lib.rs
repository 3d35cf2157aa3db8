//! Load balancers for the proxy: round robin and least request (power of two choices).
