//! `tcpconnect features` on this host: the report is the library's probes, rendered, and
//! the attach path it announces is the one the tool then takes.

mod harness;

use harness::tool::*;

fn report() -> serde_json::Value {
    let (status, stdout, stderr) = run(&["features", "--json"]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn the_json_report_holds_the_probes_answers() {
    let json = report();
    let probed =
        ebpf_loader::features::report::probe_all("tcp_connect", ("sock", "inet_sock_set_state"));
    assert_eq!(json["release"], probed.release.as_str());
    assert_eq!(json["kprobe_pmu"], probed.kprobe_pmu);
    assert_eq!(json["kprobe_events"], probed.kprobe_events);
    assert_eq!(json["tracepoint"], probed.tracepoint);
    assert_eq!(json["perf_link"], probed.perf_link);
    assert_eq!(json["memcg_accounting"], probed.memlock.memcg_accounting());
    assert_eq!(json["btf_float"], probed.btf.float);
    assert_eq!(json["btf_enum64"], probed.btf.enum64);
    assert_eq!(json["vmlinux_btf"], probed.vmlinux_btf);
    let topics: Vec<&str> = json["plan"]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics[0], "attach");
    assert!(topics.contains(&"bind") && topics.contains(&"memory") && topics.contains(&"btf"));
}

#[test]
fn the_announced_attach_method_is_the_one_the_tool_takes() {
    let json = report();
    let method = json["plan"]["method"]
        .as_str()
        .expect("an attach method here");
    let (status, _, stderr) = run(&["--duration", "0"]);
    assert_eq!(status, 0, "{stderr}");
    let attached = stderr
        .lines()
        .find(|l| l.contains("attached to"))
        .unwrap_or_else(|| panic!("no attach line: {stderr}"));
    assert!(
        attached.contains(&format!("({method})")),
        "features says {method}; the tool: {attached}"
    );
}

#[test]
fn the_text_report_ends_with_the_path_and_its_reasons() {
    let (status, stdout, stderr) = run(&["features"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.starts_with("Kernel "), "{stdout}");
    for heading in [
        "programs:",
        "attach:",
        "maps:",
        "btf:",
        "what tcpconnect does here",
    ] {
        assert!(stdout.contains(heading), "no {heading}: {stdout}");
    }
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("  => tcpconnect attaches through "),
        "{last}"
    );
}
