//! Benchmarks of the simulator.
