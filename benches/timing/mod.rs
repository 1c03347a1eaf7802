//! A small timing harness for the `harness = false` micro-benchmarks (elf, btf, perf).
//!
//! For each benchmark: a warm-up (which also sizes a sample: how many calls make
//! `--sample-ms`), then `--samples` samples, each the mean time of one call over that many
//! calls. It prints the median and the spread (10th and 90th percentile, minimum,
//! maximum) of the samples. Results go through `std::hint::black_box`, so the optimiser
//! cannot drop the work.
//!
//! ```text
//! cargo bench --bench NAME -- [FILTER] [--samples N] [--sample-ms MS] [--warm-up-ms MS]
//! ```
//!
//! FILTER runs only the benchmarks whose name contains it. Without `--bench` (which
//! `cargo bench` passes, and `cargo test --benches` does not), each benchmark runs once, as
//! a test that it still works.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Calls timed between two clock reads when each call needs its own input.
const BATCH: usize = 64;

/// One benchmark's figures: time per call.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub median: Duration,
    pub p10: Duration,
    pub p90: Duration,
    pub min: Duration,
    pub max: Duration,
}

/// The harness's settings, from the command line.
pub struct Harness {
    filter: Option<String>,
    timing: bool,
    samples: usize,
    sample_time: Duration,
    warm_up: Duration,
}

impl Harness {
    /// The settings from `std::env::args()`; panics on an unknown option (a bench, not a
    /// tool: the message says what is accepted).
    pub fn from_args() -> Harness {
        let mut harness = Harness {
            filter: None,
            timing: false,
            samples: 50,
            sample_time: Duration::from_millis(10),
            warm_up: Duration::from_millis(500),
        };
        let mut args = std::env::args().skip(1);
        let number = |value: Option<String>, what: &str| -> u64 {
            value
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a number"))
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => harness.timing = true,
                "--samples" => harness.samples = number(args.next(), "--samples").max(1) as usize,
                "--sample-ms" => {
                    harness.sample_time = Duration::from_millis(number(args.next(), "--sample-ms"))
                }
                "--warm-up-ms" => {
                    harness.warm_up = Duration::from_millis(number(args.next(), "--warm-up-ms"))
                }
                other if !other.starts_with('-') => harness.filter = Some(other.to_string()),
                other => panic!(
                    "unknown argument {other:?}: [FILTER] [--samples N] [--sample-ms MS] \
                     [--warm-up-ms MS]"
                ),
            }
        }
        if harness.timing {
            println!(
                "{:<46} {:>11}   {:>11} {:>11}   {:>11} {:>11}",
                "benchmark (time per call)", "median", "p10", "p90", "min", "max"
            );
        }
        harness
    }

    /// Times `f`. `None` when the filter skips it or when not timing (then `f` ran once).
    pub fn bench<R>(&self, name: &str, mut f: impl FnMut() -> R) -> Option<Summary> {
        self.bench_with_input(name, || (), |()| f())
    }

    /// Times `f` on a fresh input from `setup` per call; `setup` is not timed. The inputs
    /// are made `BATCH` at a time, and the clock is read around each batch of calls.
    pub fn bench_with_input<I, R>(
        &self,
        name: &str,
        mut setup: impl FnMut() -> I,
        mut f: impl FnMut(&mut I) -> R,
    ) -> Option<Summary> {
        if self
            .filter
            .as_ref()
            .is_some_and(|filter| !name.contains(filter.as_str()))
        {
            return None;
        }
        if !self.timing {
            black_box(f(&mut setup()));
            println!("{name}: ran once (cargo bench times it)");
            return None;
        }
        // `calls` calls of `f`, each on its own input: the time spent in `f` alone.
        let mut run = |calls: usize| -> Duration {
            let mut spent = Duration::ZERO;
            let mut left = calls;
            let mut inputs: Vec<I> = Vec::with_capacity(BATCH.min(calls));
            while left > 0 {
                let batch = left.min(BATCH);
                inputs.extend((0..batch).map(|_| setup()));
                let start = Instant::now();
                for input in inputs.iter_mut() {
                    black_box(f(input));
                }
                spent += start.elapsed();
                inputs.clear();
                left -= batch;
            }
            spent
        };

        // Warm-up: caches, branch predictors, the CPU's clock; and the calls per sample.
        let warm_start = Instant::now();
        let (mut calls, mut spent) = (0usize, Duration::ZERO);
        while warm_start.elapsed() < self.warm_up || calls == 0 {
            spent += run(1);
            calls += 1;
        }
        let per_call = spent.as_secs_f64() / calls as f64;
        let per_sample = ((self.sample_time.as_secs_f64() / per_call.max(1e-9)) as usize).max(1);

        let mut samples: Vec<Duration> = (0..self.samples)
            .map(|_| Duration::from_secs_f64(run(per_sample).as_secs_f64() / per_sample as f64))
            .collect();
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        let summary = Summary {
            median: at(0.5),
            p10: at(0.1),
            p90: at(0.9),
            min: samples[0],
            max: samples[samples.len() - 1],
        };
        println!(
            "{name:<46} {:>11}   {:>11} {:>11}   {:>11} {:>11}   ({} samples x {per_sample} calls)",
            show(summary.median),
            show(summary.p10),
            show(summary.p90),
            show(summary.min),
            show(summary.max),
            self.samples,
        );
        Some(summary)
    }
}

/// A duration with a unit that keeps three or four significant digits.
pub fn show(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}
