//! Benchmark support code. The benchmarks themselves arrive with the benchmark issue.
