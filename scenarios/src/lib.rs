//! Workloads and fault plans as data, and swarm generation from a seed.
