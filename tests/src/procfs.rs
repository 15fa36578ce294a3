//! Figures read from `/proc` about the gateways' processes.

/// The value of the line `field` (`VmRSS:`, `PPid:`, ...) of `/proc/<pid>/<file>`, trimmed.
fn field(pid: u32, file: &str, field: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let value = text.lines().find_map(|l| l.strip_prefix(field))?;
    Some(value.trim().to_string())
}

/// A field of `/proc/<pid>/<file>` given in kB (`VmRSS:` of `status`, `Pss:` of
/// `smaps_rollup`), in bytes.
pub fn kb_field(pid: u32, file: &str, name: &str) -> Option<u64> {
    let value = field(pid, file, name)?;
    let kb = value.trim_end_matches("kB").trim().parse::<u64>().ok()?;
    Some(kb * 1024)
}

/// The processes whose parent is `parent`.
pub fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            field(*pid, "status", "PPid:").and_then(|p| p.parse::<u32>().ok()) == Some(parent)
        })
        .collect()
}
