//! Count mode (`-c`): the program sends nothing through the rings; it adds one to the
//! `counts` hash map per connect, and this module reads the map (its keys, then each
//! value) every `--interval` and at exit, and prints BCC's table. The map is read
//! through a typed view, `HashMap<FlowKey, u64>`, whose key type is checked against the
//! map's BTF key type (`struct flow_key`) when the view is made.

use std::time::{Duration, Instant};

use anyhow::Result;
use nix::sys::signalfd::SignalFd;

use ebpf_loader::load::{HashMap, Object};

use super::cli::Cli;
use super::event::{sort_flows, FlowCount, FlowKey};
use super::print::{self, write_stdout};
use super::tour::Tour;

/// The `counts` map: connects per `struct flow_key`.
pub type Counts<'o> = HashMap<'o, FlowKey, u64>;

/// The tour's count step; returns the `counts` map's typed view.
pub fn start<'o>(cli: &Cli, object: &'o Object, tour: &mut Tour) -> Result<Counts<'o>> {
    tour.step(
        "count",
        "src/tool/count.rs",
        "count mode sends nothing through perf rings: the program adds one to the hash \
         map `counts` per connect",
    );
    let counts: Counts = object.typed_map("counts")?;
    tour.detail(format!(
        "map counts is read with BPF_MAP_GET_NEXT_KEY and BPF_MAP_LOOKUP_ELEM {}",
        match cli.interval {
            Some(secs) => format!("every {secs} s and at exit"),
            None => "at exit".to_string(),
        }
    ));
    Ok(counts)
}

/// Waits for SIGINT, SIGTERM or `--duration`, printing the table of the `counts` map
/// every `--interval` and at exit. The totals are since start (the map is never
/// cleared: clearing would race with the program's additions).
pub fn run(cli: &Cli, counts: &Counts, signals: &SignalFd) -> Result<()> {
    let start = Instant::now();
    let deadline = cli.duration.map(|secs| start + Duration::from_secs(secs));
    let interval = cli.interval.map(Duration::from_secs);
    let mut next_table = interval.map(|every| start + every);
    let mut tables = 0usize;
    loop {
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            break;
        }
        if let (Some(when), Some(every)) = (next_table, interval) {
            if now >= when {
                if !print_counts(cli, counts, start, tables)? {
                    return Ok(());
                }
                tables += 1;
                next_table = Some(when + every);
            }
        }
        if super::signal::signalled(signals)? {
            break;
        }
        // Nothing arrives in count mode but signals and time: a short nap is enough.
        let mut nap = Duration::from_millis(100);
        for until in [deadline, next_table].into_iter().flatten() {
            nap = nap.min(until.saturating_duration_since(Instant::now()));
        }
        std::thread::sleep(nap);
    }
    print_counts(cli, counts, start, tables)?;
    Ok(())
}

/// Every entry of `counts`, most connects first.
fn read_counts(counts: &Counts) -> Result<Vec<FlowCount>> {
    let mut flows = Vec::new();
    for entry in counts.entries() {
        let (key, connects) = entry?;
        flows.push(FlowCount::from_entry(&key, connects)?);
    }
    sort_flows(&mut flows);
    Ok(flows)
}

/// Prints one table (text: a header and rows, tables after the first preceded by an empty
/// line; JSON: one object per row). `Ok(false)` when stdout is closed.
fn print_counts(cli: &Cli, counts: &Counts, start: Instant, tables: usize) -> Result<bool> {
    let flows = read_counts(counts)?;
    let seconds = print::Seconds::since(start);
    let mut text = String::new();
    if cli.json {
        for flow in &flows {
            text.push_str(&print::count_json(flow, seconds));
            text.push('\n');
        }
    } else {
        if tables > 0 {
            text.push('\n');
        }
        text.push_str(&print::count_header());
        text.push('\n');
        for flow in &flows {
            text.push_str(&print::count_line(flow));
            text.push('\n');
        }
    }
    write_stdout(&text)
}
