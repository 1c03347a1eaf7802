//! How tcpconnect prints an event: BCC's columns, or one JSON object per line.
//!
//! The columns follow BCC's `tcpconnect.py` (`[TIME(s)] [UID] PID COMM IP SADDR [LPORT]
//! DADDR DPORT`), so its users read the output they know. JSON is written by hand (no
//! serde): the field names are listed in the README and never change meaning.

use crate::event::ConnectEvent;
use std::fmt::Write as _;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::raw_event;

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
}
