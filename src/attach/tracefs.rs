//! tracefs: where tracepoint ids live (`events/CATEGORY/NAME/id`) and where legacy kprobes
//! are created (`kprobe_events`).
//!
//! ABI: `Documentation/trace/tracepoints.rst`, `Documentation/trace/kprobetrace.rst` (the
//! `kprobe_events` syntax: `p[:[GRP/]EVENT] SYM[+offs]`, `r[MAXACTIVE][:[GRP/]EVENT] SYM`,
//! `-:[GRP/]EVENT`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::AttachError;

/// Where tracefs is mounted on current systems.
pub const TRACEFS: &str = "/sys/kernel/tracing";
/// Where it appears on older systems, under debugfs.
pub const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// The group of the kprobes this loader creates in `kprobe_events`.
pub const KPROBE_GROUP: &str = "ebpf_loader";

/// Serialises mounting within this process.
static MOUNT_LOCK: Mutex<()> = Mutex::new(());

fn is_mounted(dir: &Path) -> bool {
    dir.join("events").is_dir()
}

/// Finds tracefs (`/sys/kernel/tracing`, then `/sys/kernel/debug/tracing`); if neither is
/// mounted, mounts tracefs at `/sys/kernel/tracing` (which needs root).
pub fn tracefs_dir() -> Result<PathBuf, AttachError> {
    for dir in [TRACEFS, DEBUGFS_TRACING] {
        if is_mounted(Path::new(dir)) {
            return Ok(PathBuf::from(dir));
        }
    }
    let _guard = MOUNT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(TRACEFS);
    if is_mounted(dir) {
        return Ok(dir.to_path_buf());
    }
    crate::syscall::mount_tracefs(dir).map_err(|error| AttachError::TracefsUnavailable {
        reason: format!(
            "not mounted at {TRACEFS} or {DEBUGFS_TRACING}, and mounting it at {TRACEFS} \
             failed (this needs root): {error}"
        ),
    })?;
    if is_mounted(dir) {
        Ok(dir.to_path_buf())
    } else {
        Err(AttachError::TracefsUnavailable {
            reason: format!("mounted tracefs at {TRACEFS} but it has no events directory"),
        })
    }
}

/// Reads a tracepoint's (or a tracefs kprobe's) id from `events/CATEGORY/NAME/id`.
/// `Ok(None)` when there is no such event.
pub fn event_id(tracefs: &Path, category: &str, name: &str) -> Result<Option<u64>, AttachError> {
    if !is_event_name(category) || !is_event_name(name) {
        return Ok(None);
    }
    let path = tracefs.join("events").join(category).join(name).join("id");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| AttachError::BadFile {
                path,
                content: text.trim().to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AttachError::Io {
            path,
            error: e.to_string(),
        }),
    }
}

/// A name that can be a tracefs path component (no `/`, not `.`/`..`, not empty).
fn is_event_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

/// The event name of a kprobe this process creates: `FUNC_PID_N`, with `FUNC` made a
/// valid event name (characters other than `[A-Za-z0-9_]` become `_`, cut to 32 bytes).
/// The pid lets [`prune_stale_kprobes`] recognise leftovers of processes that died.
pub fn kprobe_event_name(function: &str, pid: u32, n: u64) -> String {
    let mut func: String = function
        .chars()
        .take(32)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if func.is_empty() || func.starts_with(|c: char| c.is_ascii_digit()) {
        func.insert(0, '_');
    }
    format!("{func}_{pid}_{n}")
}

/// The `GROUP/EVENT` of one line of `kprobe_events` (`p:GROUP/EVENT SYM`,
/// `r16:GROUP/EVENT SYM`, ...).
pub fn parse_kprobe_events_line(line: &str) -> Option<(&str, &str)> {
    let first = line.split_whitespace().next()?;
    let (kind, name) = first.split_once(':')?;
    if !(kind.starts_with('p') || kind.starts_with('r')) {
        return None;
    }
    let (group, event) = name.split_once('/')?;
    (!group.is_empty() && !event.is_empty()).then_some((group, event))
}

/// The pid in an event name made by [`kprobe_event_name`].
fn kprobe_event_pid(event: &str) -> Option<u32> {
    let mut parts = event.rsplitn(3, '_');
    let n = parts.next()?;
    let pid = parts.next()?;
    parts.next().filter(|f| !f.is_empty())?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Writes one command to `kprobe_events`. Opened for appending: opening it with truncation
/// would remove every kprobe on the system.
pub fn write_kprobe_events(tracefs: &Path, command: &str) -> Result<(), std::io::Error> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(tracefs.join("kprobe_events"))?;
    file.write_all(command.as_bytes())
}

/// Removes `GROUP/EVENT` from `kprobe_events`, retrying a few times while the kernel says
/// it is busy (the perf event's last reference may be going away).
pub fn remove_kprobe_event(tracefs: &Path, group: &str, event: &str) -> Result<(), std::io::Error> {
    let command = format!("-:{group}/{event}\n");
    let mut tries = 0;
    loop {
        match write_kprobe_events(tracefs, &command) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Removes the kprobes of this loader's group whose creating process is gone. Returns the
/// events removed. Without tracefs or `kprobe_events` there is nothing to prune.
///
/// `kprobe_events` is a seq_file: a read that takes several `read()` calls resumes by line
/// number, so an entry removed meanwhile by another process makes the listing skip a line.
/// The listing is therefore read again after each pass that removed something, until a
/// pass removes nothing (bounded).
pub fn prune_stale_kprobes() -> Result<Vec<String>, AttachError> {
    let Ok(tracefs) = tracefs_dir() else {
        return Ok(Vec::new());
    };
    let path = tracefs.join("kprobe_events");
    let mut removed = Vec::new();
    for _pass in 0..8 {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
            Err(e) => {
                return Err(AttachError::Io {
                    path,
                    error: e.to_string(),
                })
            }
        };
        let before = removed.len();
        for line in text.lines() {
            let Some((group, event)) = parse_kprobe_events_line(line) else {
                continue;
            };
            if group != KPROBE_GROUP {
                continue;
            }
            let Some(pid) = kprobe_event_pid(event) else {
                continue;
            };
            if Path::new("/proc").join(pid.to_string()).exists() {
                continue;
            }
            match remove_kprobe_event(&tracefs, group, event) {
                Ok(()) => removed.push(format!("{group}/{event}")),
                // Removed by another process since the listing was read.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => {
                    return Err(AttachError::Io {
                        path: path.clone(),
                        error: format!("removing {group}/{event}: {e}"),
                    })
                }
            }
        }
        if removed.len() == before {
            break;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_carry_the_pid_and_are_valid() {
        assert_eq!(
            kprobe_event_name("tcp_connect", 1234, 0),
            "tcp_connect_1234_0"
        );
        assert_eq!(
            kprobe_event_name("tcp_v4_connect.isra.0", 7, 3),
            "tcp_v4_connect_isra_0_7_3"
        );
        assert_eq!(kprobe_event_name("", 7, 3), "__7_3");
        assert_eq!(kprobe_event_name("9lives", 7, 3), "_9lives_7_3");
        assert_eq!(kprobe_event_name(&"x".repeat(100), 1, 2).len(), 32 + 4);
    }

    #[test]
    fn pids_are_read_back_from_event_names() {
        assert_eq!(kprobe_event_pid("tcp_connect_1234_0"), Some(1234));
        assert_eq!(kprobe_event_pid("tcp_v4_connect_isra_0_7_3"), Some(7));
        assert_eq!(kprobe_event_pid("tcp_connect"), None);
        assert_eq!(kprobe_event_pid("1234_0"), None);
        assert_eq!(kprobe_event_pid("f_x_0"), None);
        assert_eq!(kprobe_event_pid("f_1_y"), None);
    }

    #[test]
    fn kprobe_events_lines_are_parsed() {
        assert_eq!(
            parse_kprobe_events_line("p:ebpf_loader/tcp_connect_1_0 tcp_connect"),
            Some(("ebpf_loader", "tcp_connect_1_0"))
        );
        assert_eq!(
            parse_kprobe_events_line("r16:kprobes/myret do_sys_open"),
            Some(("kprobes", "myret"))
        );
        assert_eq!(parse_kprobe_events_line(""), None);
        assert_eq!(parse_kprobe_events_line("p:noslash f"), None);
        assert_eq!(parse_kprobe_events_line("x:a/b f"), None);
        assert_eq!(parse_kprobe_events_line("p:/b f"), None);
    }

    #[test]
    fn event_ids_refuse_path_tricks() {
        let dir = Path::new("/nonexistent");
        assert!(matches!(event_id(dir, "..", "x"), Ok(None)));
        assert!(matches!(event_id(dir, "a/b", "x"), Ok(None)));
        assert!(matches!(
            event_id(dir, "sock", "inet_sock_set_state"),
            Ok(None)
        ));
    }
}
