//! tcpconnect: every outgoing TCP connection, through the loader in this crate.

fn main() {
    eprintln!("tcpconnect: not built yet");
    std::process::exit(1);
}
