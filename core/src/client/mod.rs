//! The client session as a sans-IO state machine.
