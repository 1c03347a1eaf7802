//! Which BTF type a map's records are, and each record printed through it: the type named
//! with `--record MAP=TYPE`, else the one named struct of the object's BTF whose size is
//! the record's (said once, on stderr), else hex, with the reason. A ring buffer or perf
//! event array carries no value type in BTF (the kernel refuses one), so the object's
//! source is the only place the record's struct is named: hence the choice by size. And
//! clang writes into BTF only the types that globals, maps and function signatures use:
//! a struct that only a local variable has (libbpf-bootstrap's `struct event`) is not in
//! the object's BTF at all; `--record-btf FILE` then names BTF that has it.

use std::collections::HashMap;

use anyhow::{bail, Result};
use ebpf_loader::btf::value::{self, push_json_string};
use ebpf_loader::btf::{Btf, Kind};

/// How much padding a perf event array may add after a sample (8-byte alignment of the
/// record with its 4-byte size).
const PERF_PADDING: usize = 7;

/// What the records of one map are read as.
#[derive(Clone)]
enum Choice {
    /// A type of the object's BTF: its id and its name as printed (`struct event`).
    Type { id: u32, name: String },
    /// Hex, for this reason.
    Hex(String),
}

/// The record types of an object's output maps.
pub struct Records<'b> {
    btf: Option<&'b Btf>,
    /// `--record MAP=TYPE`, resolved.
    named: HashMap<String, (u32, String)>,
    /// The choice made by size, per map and record length (said once each).
    by_size: HashMap<(String, usize), Choice>,
    json: bool,
}

impl<'b> Records<'b> {
    /// Resolves each `MAP=TYPE` in the object's BTF: an error for a map that is not one
    /// of `maps` or a type the BTF does not have.
    pub fn new(
        btf: Option<&'b Btf>,
        given: &[String],
        maps: &[String],
        json: bool,
    ) -> Result<Self> {
        let mut named = HashMap::new();
        for spec in given {
            let Some((map, type_name)) = spec.split_once('=') else {
                bail!("--record {spec}: not MAP=TYPE");
            };
            if !maps.iter().any(|m| m == map) {
                bail!(
                    "--record {spec}: the object has no ring buffer or perf event array {map} \
                     (it has: {})",
                    maps.join(", ")
                );
            }
            let Some(btf) = btf else {
                bail!("--record {spec}: the object has no BTF to find {type_name} in");
            };
            let id = find_type(btf, type_name).ok_or_else(|| {
                anyhow::anyhow!(
                    "--record {spec}: no struct, union or typedef {type_name} in the object's BTF"
                )
            })?;
            named.insert(map.to_string(), (id, type_label(btf, id)));
        }
        Ok(Records {
            btf,
            named,
            by_size: HashMap::new(),
            json,
        })
    }

    /// One record of `map` as a line: decoded, or hex with the reason said once on
    /// stderr. `cpu` for a perf event array's sample; perf samples may carry padding.
    pub fn line(&mut self, map: &str, cpu: Option<u32>, data: &[u8]) -> String {
        let padding = if cpu.is_some() { PERF_PADDING } else { 0 };
        let choice = self.choice(map, data.len(), padding);
        let decoded = match (&choice, self.btf) {
            (Choice::Type { id, name }, Some(btf)) => {
                // A record may be sent at the length it fills (execsnoop's), shorter than
                // its struct: the members it holds are read.
                let short = btf
                    .resolve_size(*id)
                    .is_ok_and(|size| (size as usize) > data.len());
                let decoded = if short {
                    value::decode_prefix(btf, *id, data)
                } else {
                    value::decode(btf, *id, data)
                };
                match decoded {
                    Ok(value) => Ok((name.as_str(), value)),
                    Err(error) => Err(format!("not a {name}: {error}")),
                }
            }
            (Choice::Hex(reason), _) => Err(reason.clone()),
            (Choice::Type { .. }, None) => Err("the object has no BTF".to_string()),
        };
        if self.json {
            let mut out = String::from("{\"map\":");
            push_json_string(&mut out, map);
            if let Some(cpu) = cpu {
                out.push_str(&format!(",\"cpu\":{cpu}"));
            }
            match decoded {
                Ok((name, value)) => {
                    out.push_str(",\"type\":");
                    push_json_string(&mut out, name);
                    out.push_str(",\"value\":");
                    value.push_json(&mut out);
                }
                Err(reason) => {
                    out.push_str(",\"bytes\":");
                    push_json_string(&mut out, &hex(data));
                    out.push_str(",\"why_hex\":");
                    push_json_string(&mut out, &reason);
                }
            }
            out.push('}');
            out
        } else {
            let place = match cpu {
                Some(cpu) => format!("{map} cpu {cpu}"),
                None => map.to_string(),
            };
            match decoded {
                Ok((_, value)) => format!("{place}: {value}"),
                Err(_) => format!("{place}: {} bytes: {}", data.len(), hex(data)),
            }
        }
    }

    /// A perf ring's report of `count` records lost on `cpu` (the ring was full).
    pub fn lost(&self, map: &str, cpu: u32, count: u64) -> String {
        if self.json {
            let mut out = String::from("{\"map\":");
            push_json_string(&mut out, map);
            out.push_str(&format!(",\"cpu\":{cpu},\"lost\":{count}}}"));
            out
        } else {
            format!("{map} cpu {cpu}: lost {count}")
        }
    }

    /// The type for a record of `len` bytes of `map` (the named one, else by size), and
    /// the choice said on stderr the first time it is made.
    fn choice(&mut self, map: &str, len: usize, padding: usize) -> Choice {
        if let Some((id, name)) = self.named.get(map) {
            return Choice::Type {
                id: *id,
                name: name.clone(),
            };
        }
        let key = (map.to_string(), len);
        if let Some(choice) = self.by_size.get(&key) {
            return choice.clone();
        }
        let choice = match self.btf {
            None => Choice::Hex("the object has no BTF".to_string()),
            Some(btf) => by_size(btf, len, padding),
        };
        match &choice {
            Choice::Type { name, .. } => eprintln!(
                "ebpf-loader: {map}: records of {len} bytes read as {name}, the one struct of \
                 that size in the BTF (name another with --record {map}=TYPE)"
            ),
            Choice::Hex(reason) => {
                eprintln!("ebpf-loader: {map}: records of {len} bytes printed in hex: {reason}")
            }
        }
        self.by_size.insert(key, choice.clone());
        choice
    }
}

/// The one named struct or union of `len` bytes (or, for a padded perf sample, of up to
/// `padding` bytes less), or hex and why.
fn by_size(btf: &Btf, len: usize, padding: usize) -> Choice {
    let mut candidates = Vec::new();
    for size in (len.saturating_sub(padding)..=len).rev() {
        candidates = value::named_structs_of_size(btf, size);
        if !candidates.is_empty() {
            break;
        }
    }
    match candidates[..] {
        [id] => Choice::Type {
            id,
            name: type_label(btf, id),
        },
        [] => Choice::Hex(format!(
            "no struct of the BTF is {len} bytes{}",
            if padding > 0 {
                " (or up to 7 fewer)"
            } else {
                ""
            }
        )),
        _ => {
            let names: Vec<String> = candidates.iter().map(|&id| type_label(btf, id)).collect();
            Choice::Hex(format!(
                "{} structs of the BTF have that size ({}): name one with --record",
                names.len(),
                names.join(", ")
            ))
        }
    }
}

/// A struct, union or typedef named `name` (`event`, or `struct event`).
fn find_type(btf: &Btf, name: &str) -> Option<u32> {
    let bare = name
        .strip_prefix("struct ")
        .or_else(|| name.strip_prefix("union "))
        .unwrap_or(name);
    btf.ids_by_name(bare)
        .into_iter()
        .find(|&id| matches!(btf.kind(id), Ok(Kind::Struct | Kind::Union | Kind::Typedef)))
}

/// `struct event`, `union u`, or a typedef's name.
pub fn type_label(btf: &Btf, id: u32) -> String {
    let name = btf.type_name(id).unwrap_or_default();
    match btf.kind(id) {
        Ok(Kind::Struct) => format!("struct {name}"),
        Ok(Kind::Union) => format!("union {name}"),
        _ => name.to_string(),
    }
}

/// Bytes in hex, 16-bit groups, as `xxd` shows them.
pub fn hex(data: &[u8]) -> String {
    data.chunks(2)
        .map(|pair| pair.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}
