//! FastPKI X.509 core (work in progress).
