//! `map dump PINNED_PATH` and `load --attach --dump-maps`: a map's keys and values read
//! through its BTF, as `bpftool map dump` prints them. For a pinned map, the BTF is the
//! kernel's copy (`BPF_OBJ_GET_INFO_BY_FD` gives the map's `btf_id` and its key and value
//! type ids; `BPF_BTF_GET_FD_BY_ID` and the BTF object's info give the bytes); for a map
//! of an object just loaded, the object's own. Without BTF, keys and values are hex.

use std::path::Path;

use anyhow::{bail, Context, Result};
use ebpf_loader::btf::value::{self, Value};
use ebpf_loader::btf::Btf;
use ebpf_loader::load::Map;
use ebpf_loader::uapi::MapType;

/// The map types whose elements a walk of keys and lookups reads.
pub fn dumpable(map_type: MapType) -> bool {
    matches!(
        map_type,
        MapType::HASH
            | MapType::ARRAY
            | MapType::PERCPU_HASH
            | MapType::PERCPU_ARRAY
            | MapType::LRU_HASH
            | MapType::LRU_PERCPU_HASH
    )
}

/// `map dump PINNED_PATH [--json]`.
pub fn pinned(path: &Path, json: bool) -> Result<()> {
    let mut map = Map::open_pinned_as_is(path)?;
    if !dumpable(map.map_type()) {
        bail!(
            "{}: a map of type {} has no elements to dump (hash and array maps do)",
            path.display(),
            map.map_type()
        );
    }
    map.fetch_kernel_btf()
        .with_context(|| format!("{}: reading its BTF", path.display()))?;
    let text = render(&map, map.btf(), json)?;
    crate::write_stdout(&text)
}

/// Every element of `map`, one line each (`key: K  value: V`), or a JSON array of
/// `{"key": K, "value": V}` (`"values": [{"cpu": N, "value": V}]` for a per-CPU map), the
/// shape of bpftool's `formatted` field.
pub fn render(map: &Map, btf: Option<&Btf>, json: bool) -> Result<String> {
    let spec = map.spec();
    let types = btf.filter(|_| spec.btf_value_type_id != 0);
    let per_cpu = map.map_type().is_per_cpu();
    // One CPU's value, as the kernel lays the per-CPU values out: 8-byte aligned.
    let stride = (spec.value_size as usize).next_multiple_of(if per_cpu { 8 } else { 1 });
    let read = |id: u32, bytes: &[u8]| -> Result<Value> {
        match types {
            // A key type id of 0 is an array's `int` key that BTF left out: read it as u32.
            Some(btf) if id != 0 => {
                Ok(value::decode(btf, id, bytes).with_context(|| format!("map {}", map.name()))?)
            }
            _ => Ok(Value::Bytes(bytes.to_vec())),
        }
    };
    let mut out = String::new();
    if json {
        out.push('[');
    }
    let mut count = 0usize;
    for entry in map.entries() {
        let (key, value) = entry?;
        let key = read(spec.btf_key_type_id, &key)?;
        let values: Vec<Value> = value
            .chunks(stride.max(1))
            .map(|bytes| {
                read(
                    spec.btf_value_type_id,
                    bytes.get(..spec.value_size as usize).unwrap_or(bytes),
                )
            })
            .collect::<Result<_>>()?;
        if json {
            if count > 0 {
                out.push(',');
            }
            out.push_str("{\"key\":");
            key.push_json(&mut out);
            if per_cpu {
                out.push_str(",\"values\":[");
                for (cpu, value) in values.iter().enumerate() {
                    if cpu > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!("{{\"cpu\":{cpu},\"value\":"));
                    value.push_json(&mut out);
                    out.push('}');
                }
                out.push(']');
            } else if let Some(value) = values.first() {
                out.push_str(",\"value\":");
                value.push_json(&mut out);
            }
            out.push('}');
        } else {
            out.push_str(&format!("key: {key}  value: "));
            if per_cpu {
                let all: Vec<String> = values
                    .iter()
                    .enumerate()
                    .map(|(cpu, v)| format!("cpu{cpu} {v}"))
                    .collect();
                out.push_str(&all.join(", "));
            } else if let Some(value) = values.first() {
                out.push_str(&value.to_string());
            }
            out.push('\n');
        }
        count += 1;
    }
    if json {
        out.push_str("]\n");
    } else {
        out.push_str(&format!(
            "{}: {count} element{}{}\n",
            map.name(),
            if count == 1 { "" } else { "s" },
            if types.is_none() {
                " (no BTF: keys and values in hex)"
            } else {
                ""
            }
        ));
    }
    Ok(out)
}
