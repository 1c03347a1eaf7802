//! How tcpconnect prints an event: BCC's columns, or one JSON object per line.
//!
//! The columns follow BCC's `tcpconnect.py` (`[TIME(s)] [UID] PID COMM IP SADDR [LPORT]
//! DADDR DPORT`), so its users read the output they know; count mode's table follows its
//! `-c` (`LADDR RADDR RPORT CONNECTS`). JSON is written by hand (no serde): one object per
//! line, the field names are listed in the README and never change meaning.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Instant;

use anyhow::{Context, Result};
use ebpf_loader::perf::Event;

use super::event::{ConnectEvent, FlowCount};

/// Which optional columns to print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Columns {
    /// `TIME(s)`: seconds since the tool started.
    pub timestamp: bool,
    /// `UID`.
    pub uid: bool,
    /// `LPORT`: the local port.
    pub lport: bool,
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
    line
}

/// One event as a line under [`header`]. `seconds` is the time since start.
pub fn line(event: &ConnectEvent, columns: Columns, seconds: f64) -> String {
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

/// Appends `text` to `out` as a JSON string, quotes included (RFC 8259, section 7).
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One event as a JSON object on one line. `comm` is the name as UTF-8 (bytes that are
/// not UTF-8 become U+FFFD); `comm_hex` has the exact bytes.
pub fn json(event: &ConnectEvent, seconds: f64) -> String {
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
         \"saddr\":\"{}\",\"sport\":{},\"daddr\":\"{}\",\"dport\":{}}}",
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
    out
}

/// A lost-samples report as a JSON object: the kernel could not write `count` events
/// into `cpu`'s ring because it was full. `seconds` is the time since start.
pub fn lost_json(count: u64, cpu: u32, seconds: f64) -> String {
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
pub fn count_json(flow: &FlowCount, seconds: f64) -> String {
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

/// Turns ring records into lines on `out` and keeps the tallies.
pub struct Printer<W: Write> {
    out: W,
    columns: Columns,
    json: bool,
    start: Instant,
    lost_total: u64,
    bad_events: u64,
    /// The first failed write; the loop stops on it.
    write_error: Option<io::Error>,
}

impl<W: Write> Printer<W> {
    /// A printer of these columns (or JSON lines), its clock starting now.
    pub fn new(out: W, columns: Columns, json: bool) -> Printer<W> {
        Printer {
            out,
            columns,
            json,
            start: Instant::now(),
            lost_total: 0,
            bad_events: 0,
            write_error: None,
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
        let seconds = self.start.elapsed().as_secs_f64();
        let written = match event {
            Event::Sample { data, .. } => match ConnectEvent::parse(data) {
                Ok(event) if self.json => writeln!(self.out, "{}", json(&event, seconds)),
                Ok(event) => writeln!(self.out, "{}", line(&event, self.columns, seconds)),
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
    use crate::tool::event::tests::raw_event;
    use crate::tool::event::Family;

    fn event(comm: &[u8]) -> ConnectEvent {
        let raw = raw_event(comm, 77, 2, 40000, 8080, &[127, 0, 0, 1], &[127, 0, 0, 2]);
        ConnectEvent::parse(&raw).unwrap()
    }

    #[test]
    fn prints_bcc_columns() {
        let all = Columns {
            timestamp: true,
            uid: true,
            lport: true,
        };
        assert_eq!(
            header(Columns::default()),
            "PID     COMM             IP SADDR            DADDR            DPORT"
        );
        assert_eq!(
            line(&event(b"curl"), Columns::default(), 0.0),
            "77      curl             4  127.0.0.1        127.0.0.2        8080"
        );
        assert_eq!(
            header(all),
            "TIME(s)   UID    PID     COMM             IP SADDR            LPORT  DADDR            DPORT"
        );
        assert_eq!(
            line(&event(b"curl"), all, 1.5),
            "1.500     1000   77      curl             4  127.0.0.1        40000  127.0.0.2        8080"
        );
    }

    #[test]
    fn escapes_what_a_terminal_would_interpret() {
        assert_eq!(printable_comm(b"a\x1b[2Jb\xff"), "a\\x1b[2Jb\\xff");
    }

    #[test]
    fn json_is_escaped_and_keeps_the_exact_bytes() {
        let text = json(&event(b"a\"b\\c\xff"), 2.0);
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
    fn count_rows_and_lost_reports_are_json_objects() {
        assert_eq!(
            count_json(&flow(Family::Ipv6, "::1", "::1"), 3.25),
            "{\"time\":3.250000,\"family\":6,\"saddr\":\"::1\",\"daddr\":\"::1\",\
             \"dport\":443,\"connects\":12}"
        );
        assert_eq!(
            lost_json(7, 1, 0.5),
            "{\"time\":0.500000,\"lost\":7,\"cpu\":1}"
        );
    }
}
