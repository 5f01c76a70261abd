//! burn's recorder errors, worded for the user.

/// burn's words for a record that does not load, without the note about
/// burn 0.14's format that it appends to every failed tensor (facebench never
/// wrote that format, so the note only misleads).
pub(crate) fn recorder_error_text(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let cut = text
        .find("The internal data format has changed")
        .unwrap_or(text.len());
    text[..cut].trim().to_string()
}
