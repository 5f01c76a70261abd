//! One rule for turning a user's label (a run name, a preset name) into a file
//! or folder name that is safe on every platform.

/// `label` with every character but ASCII letters, digits, `-` and `_` turned
/// into `-`, trimmed; "unnamed" when nothing is left.
pub fn file_name_from(label: &str) -> String {
    let name: String = label
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.trim_matches('-').is_empty() {
        "unnamed".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::file_name_from;

    #[test]
    fn labels_become_safe_file_names() {
        for (label, name) in [
            ("resnet-tiny cpu", "resnet-tiny-cpu"),
            ("../etc/passwd", "---etc-passwd"),
            ("Zoë_1", "Zo-_1"),
            ("  ", "unnamed"),
            ("///", "unnamed"),
        ] {
            assert_eq!(file_name_from(label), name, "{label:?}");
        }
    }
}

/// `bytes` as lowercase hex: file names and keys made of a digest (the
/// statistics cache, the image cache, the scan's header memo).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
