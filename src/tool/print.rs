//! How tcpconnect prints an event: BCC's columns, or one JSON object per line.
//!
//! The columns follow BCC's `tcpconnect.py` (`[TIME(s)] [UID] PID COMM IP SADDR [LPORT]
//! DADDR DPORT`), so its users read the output they know; count mode's table follows its
//! `-c` (`LADDR RADDR RPORT CONNECTS`). JSON is written by hand (no serde): one object per
//! line, the field names are listed in the README and never change meaning.

use std::fmt;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ebpf_loader::perf::Event;

use super::container::{container_of, CgroupNames, Container};
use super::event::{ConnectEvent, EventLayout, FlowCount};

/// Which optional columns to print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Columns {
    /// `TIME(s)`: seconds since the tool started.
    pub timestamp: bool,
    /// `UID`.
    pub uid: bool,
    /// `LPORT`: the local port.
    pub lport: bool,
    /// `CONTAINER`: the container's short id (12 hex digits), last; empty for none.
    pub container: bool,
}

/// Where a connection came from, found in user space from its cgroup id: the cgroup's
/// path and the container it names. Unknown stays `None`, never guessed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// The cgroup's path below the v2 hierarchy's root (`/` for the root).
    pub cgroup: Option<String>,
    /// The container the path names.
    pub container: Option<Container>,
}

impl Place {
    /// The place of cgroup `id`, looked up in `names`.
    pub fn of(names: &mut CgroupNames, id: u64) -> Place {
        let cgroup = names.path(id).map(str::to_string);
        let container = cgroup.as_deref().and_then(container_of);
        Place { cgroup, container }
    }
}

/// The first 12 characters of a container id, as docker and podman show it.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The header line for these columns.
pub fn header(columns: Columns) -> String {
    let mut line = String::new();
    if columns.timestamp {
        line.push_str(&format!("{:<9} ", "TIME(s)"));
    }
    if columns.uid {
        line.push_str(&format!("{:<6} ", "UID"));
    }
    line.push_str(&format!(
        "{:<7} {:<16} {:<2} {:<16} ",
        "PID", "COMM", "IP", "SADDR"
    ));
    if columns.lport {
        line.push_str(&format!("{:<6} ", "LPORT"));
    }
    line.push_str(&format!("{:<16} {}", "DADDR", "DPORT"));
    if columns.container {
        line.push_str(" CONTAINER");
    }
    line
}

/// A time since start, printed in seconds with as many decimals as the format's precision
/// asks (`{:.3}`; 6 without one), rounded to the nearest, as `{:.3}` prints an `f64`.
/// Integer arithmetic, not `f64`: printing a float would link core's float formatting
/// (Grisu and Dragon4, ~10 KB), for a column that needs none of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl Seconds {
    /// The time elapsed since `start`.
    pub fn since(start: Instant) -> Seconds {
        Seconds(start.elapsed())
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = f.precision().unwrap_or(6).min(9) as u32;
        let unit = 10u128.pow(9 - digits);
        // Rounded to the nearest unit of the last decimal, half up.
        let units = (self.0.as_nanos() + unit / 2) / unit;
        let scale = 10u128.pow(digits);
        let mut text = (units / scale).to_string();
        if digits > 0 {
            let fraction = units % scale;
            let _ = write!(text, ".{fraction:0width$}", width = digits as usize);
        }
        // Width and alignment as the format asks (`{:<9.3}`).
        f.pad_integral(true, "", &text)
    }
}

/// One event as a line under [`header`]. `seconds` is the time since start.
pub fn line(event: &ConnectEvent, place: &Place, columns: Columns, seconds: Seconds) -> String {
    let mut line = String::new();
    if columns.timestamp {
        line.push_str(&format!("{seconds:<9.3} "));
    }
    if columns.uid {
        line.push_str(&format!("{:<6} ", event.uid));
    }
    line.push_str(&format!(
        "{:<7} {:<16} {:<2} {:<16} ",
        event.pid,
        printable_comm(&event.comm),
        event.family.version(),
        event.saddr.to_string()
    ));
    if columns.lport {
        line.push_str(&format!("{:<6} ", event.sport));
    }
    line.push_str(&format!("{:<16} {}", event.daddr.to_string(), event.dport));
    if columns.container {
        if let Some(container) = &place.container {
            let pad = 5usize.saturating_sub(event.dport.to_string().len());
            line.push_str(&format!("{:pad$} {}", "", short_id(&container.id)));
        }
    }
    line
}

/// A process name for a terminal: control characters and bytes that are not UTF-8 are
/// shown as `\xNN`, so a name cannot move the cursor or break the columns.
pub fn printable_comm(comm: &[u8]) -> String {
    let mut out = String::new();
    for chunk in comm.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                let _ = write!(out, "\\x{:02x}", c as u32);
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// Appends `text` to `out` as a JSON string, quotes included (RFC 8259, section 7): the
/// library's, which its BTF value printer uses too.
pub use ebpf_loader::btf::value::push_json_string;

/// One event as a JSON object on one line. `comm` is the name as UTF-8 (bytes that are
/// not UTF-8 become U+FFFD); `comm_hex` has the exact bytes. The container fields
/// (`cgroup_id`, `cgroup`, `container_id`, `container_runtime`, `pod_uid`, `mntns`,
/// `netns`) are present only when known.
pub fn json(event: &ConnectEvent, place: &Place, seconds: Seconds) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "{{\"time\":{seconds:.6},\"pid\":{},\"comm\":",
        event.pid
    );
    push_json_string(&mut out, &String::from_utf8_lossy(&event.comm));
    out.push_str(",\"comm_hex\":\"");
    for byte in &event.comm {
        let _ = write!(out, "{byte:02x}");
    }
    let _ = write!(
        out,
        "\",\"uid\":{},\"gid\":{},\"loginuid\":{},\"family\":{},\"proto\":{},\
         \"saddr\":\"{}\",\"sport\":{},\"daddr\":\"{}\",\"dport\":{}",
        event.uid,
        event.gid,
        event.loginuid,
        event.family.version(),
        event.proto,
        event.saddr,
        event.sport,
        event.daddr,
        event.dport
    );
    push_container_fields(&mut out, event, place);
    out.push('}');
    out
}

/// The container fields of [`json`], each only when known.
fn push_container_fields(out: &mut String, event: &ConnectEvent, place: &Place) {
    let ns = event.namespaces.unwrap_or_default();
    if let Some(id) = ns.cgroup_id {
        let _ = write!(out, ",\"cgroup_id\":{id}");
    }
    if let Some(cgroup) = &place.cgroup {
        out.push_str(",\"cgroup\":");
        push_json_string(out, cgroup);
    }
    if let Some(container) = &place.container {
        out.push_str(",\"container_id\":");
        push_json_string(out, &container.id);
        out.push_str(",\"container_runtime\":");
        push_json_string(out, container.runtime);
        if let Some(pod) = &container.pod_uid {
            out.push_str(",\"pod_uid\":");
            push_json_string(out, pod);
        }
    }
    if let Some(mntns) = ns.mntns {
        let _ = write!(out, ",\"mntns\":{mntns}");
    }
    if let Some(netns) = ns.netns {
        let _ = write!(out, ",\"netns\":{netns}");
    }
}

/// A lost-samples report as a JSON object: the kernel could not write `count` events
/// into `cpu`'s ring because it was full. `seconds` is the time since start.
pub fn lost_json(count: u64, cpu: u32, seconds: Seconds) -> String {
    format!("{{\"time\":{seconds:.6},\"lost\":{count},\"cpu\":{cpu}}}")
}

/// Count mode's header, BCC's columns and widths.
pub fn count_header() -> String {
    format!(
        "{:<25} {:<25} {:<20} {}",
        "LADDR", "RADDR", "RPORT", "CONNECTS"
    )
}

/// One row of count mode's table.
pub fn count_line(flow: &FlowCount) -> String {
    format!(
        "{:<25} {:<25} {:<20} {}",
        flow.saddr.to_string(),
        flow.daddr.to_string(),
        flow.dport,
        flow.connects
    )
}

/// One row of count mode as a JSON object. `seconds` is when the table was read.
pub fn count_json(flow: &FlowCount, seconds: Seconds) -> String {
    format!(
        "{{\"time\":{seconds:.6},\"family\":{},\"saddr\":\"{}\",\"daddr\":\"{}\",\
         \"dport\":{},\"connects\":{}}}",
        flow.family.version(),
        flow.saddr,
        flow.daddr,
        flow.dport,
        flow.connects
    )
}

/// Writes `text` to stdout; `Ok(false)` when stdout is closed (`tcpconnect | head`).
pub fn write_stdout(text: &str) -> Result<bool> {
    match io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(error).context("writing to stdout"),
    }
}

/// Turns ring records into lines on `out` and keeps the tallies.
pub struct Printer<W: Write> {
    out: W,
    columns: Columns,
    json: bool,
    /// Which `struct data_t` the samples hold (checked against the object's BTF).
    layout: EventLayout,
    start: Instant,
    lost_total: u64,
    bad_events: u64,
    /// The first failed write; the loop stops on it.
    write_error: Option<io::Error>,
    /// Cgroup ids to paths, for the container fields; `None`: not looked up.
    names: Option<CgroupNames>,
}

impl<W: Write> Printer<W> {
    /// A printer of these columns (or JSON lines) of events of `layout`, its clock
    /// starting now.
    pub fn new(out: W, columns: Columns, json: bool, layout: EventLayout) -> Printer<W> {
        Printer {
            out,
            columns,
            json,
            layout,
            start: Instant::now(),
            lost_total: 0,
            bad_events: 0,
            write_error: None,
            names: None,
        }
    }

    /// Looks each event's cgroup id up under this hierarchy, for its cgroup path and
    /// container.
    pub fn with_cgroup_names(mut self, names: Option<CgroupNames>) -> Printer<W> {
        self.names = names;
        self
    }

    fn place(&mut self, event: &ConnectEvent) -> Place {
        match (
            &mut self.names,
            event.namespaces.and_then(|ns| ns.cgroup_id),
        ) {
            (Some(names), Some(id)) => Place::of(names, id),
            _ => Place::default(),
        }
    }

    /// When the clock of the timestamp column started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Writes one line (the header).
    pub fn line(&mut self, text: &str) {
        if let Err(error) = writeln!(self.out, "{text}") {
            self.write_error.get_or_insert(error);
        }
    }

    /// One record of a ring: a connection printed, or a loss reported.
    pub fn handle(&mut self, event: Event<'_>) {
        let seconds = Seconds::since(self.start);
        let written = match event {
            Event::Sample { data, .. } => match ConnectEvent::read(data, self.layout) {
                Ok(event) => {
                    let place = self.place(&event);
                    if self.json {
                        writeln!(self.out, "{}", json(&event, &place, seconds))
                    } else {
                        writeln!(self.out, "{}", line(&event, &place, self.columns, seconds))
                    }
                }
                Err(_) => {
                    self.bad_events += 1;
                    Ok(())
                }
            },
            Event::Lost { cpu, count } => {
                self.lost_total += count;
                eprintln!("tcpconnect: lost {count} events on CPU {cpu}");
                if self.json {
                    writeln!(self.out, "{}", lost_json(count, cpu, seconds))
                } else {
                    Ok(())
                }
            }
        };
        if let Err(error) = written {
            self.write_error.get_or_insert(error);
        }
    }

    /// Flushes; `Ok(false)` when stdout is closed (`tcpconnect | head`): the tool then
    /// ends quietly.
    pub fn flush(&mut self) -> Result<bool> {
        let result = match self.write_error.take() {
            Some(error) => Err(error),
            None => self.out.flush(),
        };
        match result {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(error) => Err(error).context("writing to stdout"),
        }
    }

    /// The tallies at exit, on stderr: events lost, samples that could not be decoded.
    pub fn summary(&self) {
        if self.lost_total > 0 {
            eprintln!("tcpconnect: lost {} events in all", self.lost_total);
        }
        if self.bad_events > 0 {
            eprintln!(
                "tcpconnect: {} events could not be decoded",
                self.bad_events
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::container::container_of;
    use crate::tool::event::tests::{data_t, sample, seed_of};
    use crate::tool::event::Family;

    /// An event of the seed's layout (no container fields), through its perf sample.
    fn event(comm: &[u8]) -> ConnectEvent {
        let data = data_t(comm, 77, 2, (40000, 8080), &[127, 0, 0, 1], &[127, 0, 0, 2]);
        ConnectEvent::read(&sample(&seed_of(&data)), EventLayout::Seed).unwrap()
    }

    #[test]
    fn prints_bcc_columns() {
        let all = Columns {
            timestamp: true,
            uid: true,
            lport: true,
            container: false,
        };
        assert_eq!(
            header(Columns::default()),
            "PID     COMM             IP SADDR            DADDR            DPORT"
        );
        assert_eq!(
            line(
                &event(b"curl"),
                &Place::default(),
                Columns::default(),
                Seconds(Duration::from_millis(0))
            ),
            "77      curl             4  127.0.0.1        127.0.0.2        8080"
        );
        assert_eq!(
            header(all),
            "TIME(s)   UID    PID     COMM             IP SADDR            LPORT  DADDR            DPORT"
        );
        assert_eq!(
            line(&event(b"curl"), &Place::default(), all, Seconds(Duration::from_millis(1500))),
            "1.500     1000   77      curl             4  127.0.0.1        40000  127.0.0.2        8080"
        );
    }

    const ID: &str = "3f2a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f00";

    fn in_a_pod() -> (ConnectEvent, Place) {
        let mut data = data_t(
            b"curl",
            77,
            2,
            (40000, 8080),
            &[10, 0, 0, 1],
            &[10, 0, 0, 2],
        );
        (data.cgroup_id, data.mntns, data.netns) = (4242, 4026532300, 4026532301);
        let cgroup = format!("/kubepods/burstable/pod0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/{ID}");
        let place = Place {
            container: container_of(&cgroup),
            cgroup: Some(cgroup),
        };
        (
            ConnectEvent::read(&sample(&data), EventLayout::Containers).unwrap(),
            place,
        )
    }

    #[test]
    fn the_container_column_has_the_short_id_or_nothing() {
        let columns = Columns {
            container: true,
            ..Columns::default()
        };
        assert_eq!(
            header(columns),
            "PID     COMM             IP SADDR            DADDR            DPORT CONTAINER"
        );
        let (event, place) = in_a_pod();
        assert_eq!(
            line(&event, &place, columns, Seconds(Duration::from_millis(0))),
            "77      curl             4  10.0.0.1         10.0.0.2         8080  3f2a9b8c7d6e"
        );
        // A host process: the column stays empty, not guessed.
        assert_eq!(
            line(
                &event,
                &Place::default(),
                columns,
                Seconds(Duration::from_millis(0))
            ),
            "77      curl             4  10.0.0.1         10.0.0.2         8080"
        );
    }

    #[test]
    fn json_has_the_container_fields_only_when_known() {
        let (event, place) = in_a_pod();
        let text = json(&event, &place, Seconds(Duration::from_millis(1000)));
        assert!(
            text.ends_with(&format!(
                "\"dport\":8080,\"cgroup_id\":4242,\
                 \"cgroup\":\"/kubepods/burstable/pod0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/{ID}\",\
                 \"container_id\":\"{ID}\",\"container_runtime\":\"containerd\",\
                 \"pod_uid\":\"0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b\",\
                 \"mntns\":4026532300,\"netns\":4026532301}}"
            )),
            "{text}"
        );
        // The seed's layout: no container field at all.
        let seed = ConnectEvent::from_seed(&seed_of(&data_t(b"x", 1, 2, (1, 2), &[0; 4], &[0; 4])))
            .unwrap();
        assert!(
            json(&seed, &Place::default(), Seconds(Duration::from_millis(0)))
                .ends_with("\"dport\":2}")
        );
    }

    #[test]
    fn escapes_what_a_terminal_would_interpret() {
        assert_eq!(printable_comm(b"a\x1b[2Jb\xff"), "a\\x1b[2Jb\\xff");
    }

    #[test]
    fn json_is_escaped_and_keeps_the_exact_bytes() {
        let text = json(
            &event(b"a\"b\\c\xff"),
            &Place::default(),
            Seconds(Duration::from_millis(2000)),
        );
        assert_eq!(
            text,
            "{\"time\":2.000000,\"pid\":77,\"comm\":\"a\\\"b\\\\c\u{fffd}\",\"comm_hex\":\"6122625c63ff\",\
             \"uid\":1000,\"gid\":100,\"loginuid\":4294967295,\"family\":4,\"proto\":6,\
             \"saddr\":\"127.0.0.1\",\"sport\":40000,\"daddr\":\"127.0.0.2\",\"dport\":8080}"
        );
    }

    fn flow(family: Family, saddr: &str, daddr: &str) -> FlowCount {
        FlowCount {
            connects: 12,
            family,
            saddr: saddr.parse().unwrap(),
            daddr: daddr.parse().unwrap(),
            dport: 443,
        }
    }

    #[test]
    fn prints_the_count_table_in_bcc_columns() {
        assert_eq!(
            count_header(),
            "LADDR                     RADDR                     RPORT                CONNECTS"
        );
        assert_eq!(
            count_line(&flow(Family::Ipv4, "10.0.0.1", "192.0.2.80")),
            "10.0.0.1                  192.0.2.80                443                  12"
        );
        assert_eq!(
            count_line(&flow(Family::Ipv6, "fe80::1", "2001:db8::1")),
            "fe80::1                   2001:db8::1               443                  12"
        );
    }

    #[test]
    fn seconds_print_as_an_f64_of_them_would() {
        // As `{:<9.3}` and `{:.6}` print `as_secs_f64()`, which the columns used before:
        // rounding at the last decimal, carries into the seconds, padding.
        let nanos = [
            0,
            1,
            499_999,
            500_001,
            999_499_999,
            999_500_001,
            1_500_000_000,
            12_345_678_901,
            59_999_999_999,
            86_400_000_000_123,
        ];
        for n in nanos {
            let duration = Duration::from_nanos(n);
            let float = duration.as_secs_f64();
            let seconds = Seconds(duration);
            assert_eq!(
                format!("{seconds:<9.3}|"),
                format!("{float:<9.3}|"),
                "{n} ns"
            );
            assert_eq!(format!("{seconds:.6}"), format!("{float:.6}"), "{n} ns");
        }
        assert_eq!(Seconds(Duration::from_millis(2500)).to_string(), "2.500000");
    }

    #[test]
    fn count_rows_and_lost_reports_are_json_objects() {
        assert_eq!(
            count_json(
                &flow(Family::Ipv6, "::1", "::1"),
                Seconds(Duration::from_millis(3250))
            ),
            "{\"time\":3.250000,\"family\":6,\"saddr\":\"::1\",\"daddr\":\"::1\",\
             \"dport\":443,\"connects\":12}"
        );
        assert_eq!(
            lost_json(7, 1, Seconds(Duration::from_millis(500))),
            "{\"time\":0.500000,\"lost\":7,\"cpu\":1}"
        );
    }
}
