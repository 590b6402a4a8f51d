//! Inject one violation of a chosen property into a valid history.
