//! Issue 14, on the tracepoint path: a connect whose SYN gets no answer is printed when the
//! SYN is first sent again (`tcp:tcp_retransmit_skb`, after the 1 s initial retransmission
//! timeout), once, with its real source port; not when the connect finally gives up. And
//! the connects that do get an answer (a SYN-ACK, or an RST) are printed once, as before.
//!
//! The unanswered SYN: a listener with a backlog of 1 and two connections it never accepts
//! has a full accept queue, and the kernel drops the next SYN sent to it (loopback only). The
//! socket that sent it stays in SYN_SENT for minutes (6 SYN retries by default): the test
//! keeps it open while it waits for the line, and the line must come while the socket is
//! still in SYN_SENT, after a retransmit (`TCP_INFO`): that is the retransmit's event, the
//! old path could not have sent it yet. Then the socket is closed (SYN_SENT -> CLOSE): no
//! second line.
//!
//! Needs root; each test starts its own tool and its own listener, and looks only at lines
//! for its own ports, so the tests can run in parallel.

mod harness;

use std::net::SocketAddr;
use std::time::Instant;

use harness::tool::*;

/// `PID COMM IP SADDR LPORT DADDR DPORT` (`-L`) for a connect from `local` to `remote`.
fn expected(comm: &str, local: SocketAddr, remote: SocketAddr) -> Vec<String> {
    vec![
        our_pid(),
        comm.to_string(),
        if remote.is_ipv4() { "4" } else { "6" }.to_string(),
        local.ip().to_string(),
        local.port().to_string(),
        remote.ip().to_string(),
        remote.port().to_string(),
    ]
}

/// Is this `-L` line the connect from `local` to `remote`?
fn is_connect(line: &str, local: SocketAddr, remote: SocketAddr) -> bool {
    let f = fields(line);
    f.len() == 7 && f[4] == local.port().to_string() && f[6] == remote.port().to_string()
}

fn check_unanswered(ip: &str, comm: &'static str) {
    let mut tool = Tool::start(&["-L"]);
    let (_listener, fillers, remote) = listen_full(ip);

    let connected = Instant::now();
    let pending = connect_pending(remote, comm.as_bytes());
    let local = pending.local_addr().unwrap();
    assert_ne!(local.port(), 0, "the kernel picks the port before the SYN");

    let line = tool.wait_for(&format!("the unanswered connect from {local}"), |l| {
        is_connect(l, local, remote)
    });
    let waited = connected.elapsed();
    let (state, retransmits) = tcp_state(&pending);
    assert_eq!(
        (state, retransmits > 0),
        (TCP_SYN_SENT, true),
        "the line came {waited:?} after the connect, with the socket in state {state} after \
         {retransmits} retransmits: not the first SYN retransmit's event"
    );
    assert_eq!(fields(&line), expected(comm, local, remote), "{line}");

    // Leaving SYN_SENT now (closed before any answer) must print nothing more. close(2)
    // runs the tracepoint before it returns, and the tool drains its rings at SIGINT.
    drop(pending);
    let (lines, stderr) = tool.stop();
    let ours: Vec<&String> = lines
        .iter()
        .filter(|l| is_connect(l, local, remote))
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "one line for the unanswered connect (it came {waited:?} after the connect): \
         {ours:#?}; stderr: {stderr}"
    );
    // The connects that filled the queue were answered: each printed once, as before.
    for filler in &fillers {
        let filler_local = filler.local_addr().unwrap();
        let filler_lines = lines
            .iter()
            .filter(|l| is_connect(l, filler_local, remote))
            .count();
        assert_eq!(filler_lines, 1, "{filler_local}; stdout: {lines:#?}");
    }
    eprintln!("the unanswered connect to {remote} was printed {waited:?} after it was made");
}

#[test]
fn an_unanswered_ipv4_connect_is_printed_at_its_first_syn_retransmit_once() {
    check_unanswered("127.0.0.1", "tc-syn-v4");
}

#[test]
fn an_unanswered_ipv6_connect_is_printed_at_its_first_syn_retransmit_once() {
    check_unanswered("::1", "tc-syn-v6");
}

/// A refused connect (an RST at once: nothing listens on the port) goes from SYN_SENT to
/// CLOSE without a retransmit: the state change sends it, once.
fn check_refused(ip: &str, comm: &'static str) {
    let mut tool = Tool::start(&["-L"]);
    // A port nothing listens on any more: bound, then closed.
    let remote = listen(ip).1;
    let pending = connect_pending(remote, comm.as_bytes());
    let local = pending.local_addr().unwrap();
    let line = tool.wait_for(&format!("the refused connect from {local}"), |l| {
        is_connect(l, local, remote)
    });
    assert_eq!(fields(&line), expected(comm, local, remote), "{line}");
    let error = pending.take_error().unwrap();
    assert_eq!(
        error.as_ref().and_then(|e| e.raw_os_error()),
        Some(libc::ECONNREFUSED),
        "{error:?}"
    );
    drop(pending);
    let (lines, _) = tool.stop();
    let count = lines
        .iter()
        .filter(|l| is_connect(l, local, remote))
        .count();
    assert_eq!(count, 1, "stdout: {lines:#?}");
}

#[test]
fn a_refused_ipv4_connect_is_printed_once() {
    check_refused("127.0.0.1", "tc-rst-v4");
}

#[test]
fn a_refused_ipv6_connect_is_printed_once() {
    check_refused("::1", "tc-rst-v6");
}

/// Count mode takes the same path: the unanswered connect is counted at its first SYN
/// retransmit, while the socket is still in SYN_SENT, and once (closing it adds nothing).
#[test]
fn count_mode_counts_an_unanswered_connect_at_its_first_syn_retransmit_once() {
    let mut tool = Tool::start(&["-c", "-4", "--interval", "1"]);
    let (_listener, _fillers, remote) = listen_full("127.0.0.1");
    let port = remote.port().to_string();
    // LADDR RADDR RPORT CONNECTS: the two fillers and the unanswered connect, one flow.
    let row = ["127.0.0.1", "127.0.0.1", port.as_str(), "3"];
    let pending = connect_pending(remote, b"tc-syn-count");
    // The table comes every second: the row reaches 3 while the socket is open.
    tool.wait_for(&format!("a count of 3 for port {port}"), |l| {
        fields(l) == row
    });
    assert_eq!(tcp_state(&pending).0, TCP_SYN_SENT);
    drop(pending);
    let (lines, stderr) = tool.stop();
    // The table printed at exit, after the close, still counts 3.
    let last = lines
        .iter()
        .rev()
        .find(|l| fields(l).get(2) == Some(&port.as_str()))
        .unwrap_or_else(|| panic!("no row for port {port}: {lines:#?}; {stderr}"));
    assert_eq!(fields(last), row, "{lines:#?}");
}
