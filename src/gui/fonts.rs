//! Class names in any script. egui's own fonts cover Latin, Greek and
//! Cyrillic; names in CJK, Hangul, Arabic, Hebrew, Devanagari, Thai or emoji
//! would draw as empty boxes. So the system's fonts (found through `fontdb`,
//! which reads fontconfig's folders on Linux) are searched for faces that
//! cover those scripts, and each face found is added after egui's own fonts,
//! as a fallback that only draws what egui's fonts lack. The window runs the
//! search on a thread of its own at start-up; it reads only the tables it
//! needs from memory-mapped files.
//!
//! egui lays text out glyph by glyph, without shaping: Arabic letters show
//! in their isolated forms and Devanagari without its conjuncts. The names
//! are legible, not typeset.

use std::sync::Arc;

use egui::{FontData, FontDefinitions, FontFamily};

/// One character of each script a person's name may be written in.
pub const SCRIPT_SAMPLES: &[(&str, char)] = &[
    ("Chinese", '周'),
    ("Japanese", 'の'),
    ("Korean", '김'),
    ("Cyrillic", 'Ж'),
    ("Greek", 'Ω'),
    ("Arabic", 'ب'),
    ("Hebrew", 'ש'),
    ("Devanagari", 'न'),
    ("Bengali", 'ক'),
    ("Tamil", 'த'),
    ("Thai", 'ก'),
    ("emoji", '🙂'),
];

/// egui's fonts with the system's fallbacks added, and what was found.
pub struct FallbackFonts {
    pub definitions: FontDefinitions,
    /// Each face added: its family name and the scripts it was added for.
    pub added: Vec<(String, Vec<&'static str>)>,
    /// Scripts that no font here covers (their names draw as boxes).
    pub missing: Vec<&'static str>,
}

/// Which of `wanted` the font in `data` (face `index` of a collection)
/// maps, the face parsed once.
fn covered(data: &[u8], index: u32, wanted: &[(&'static str, char)]) -> Vec<(&'static str, char)> {
    match ttf_parser::Face::parse(data, index) {
        Ok(face) => wanted
            .iter()
            .copied()
            .filter(|&(_, c)| face.glyph_index(c).is_some())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Families searched first, in this order (broad coverage, plain faces).
const PREFERRED: &[&str] = &["Noto Sans", "Droid Sans", "DejaVu Sans", "Symbola"];

fn preference(info: &fontdb::FaceInfo) -> (usize, bool, u16) {
    let family = info.families.first().map_or("", |(f, _)| f.as_str());
    let rank = PREFERRED
        .iter()
        .position(|p| family.starts_with(p))
        .unwrap_or(PREFERRED.len());
    let plain = info.style == fontdb::Style::Normal && !info.monospaced;
    (rank, !plain, info.weight.0.abs_diff(400))
}

/// egui's default fonts, plus one system face for each script of
/// [`SCRIPT_SAMPLES`] that they lack (a face is added once however many
/// scripts it covers).
pub fn fallback_fonts() -> FallbackFonts {
    let mut definitions = FontDefinitions::default();
    let mut wanted: Vec<(&'static str, char)> = SCRIPT_SAMPLES.to_vec();
    for d in definitions.font_data.values() {
        let have = covered((*d.font).as_ref(), d.index, &wanted);
        wanted.retain(|w| !have.contains(w));
    }
    let mut db = fontdb::Database::new();
    db.load_system_fonts();
    let mut faces: Vec<&fontdb::FaceInfo> = db.faces().collect();
    faces.sort_by_key(|f| preference(f));
    let mut added = Vec::new();
    for face in faces {
        if wanted.is_empty() {
            break;
        }
        let Some((found, data)) = db.with_face_data(face.id, |data, index| {
            let found = covered(data, index, &wanted);
            let data = (!found.is_empty()).then(|| data.to_vec());
            (found, data)
        }) else {
            continue;
        };
        let Some(data) = data else { continue };
        let family = face
            .families
            .first()
            .map_or_else(|| face.post_script_name.clone(), |(f, _)| f.clone());
        let name = format!("fallback: {family} ({})", face.post_script_name);
        definitions.font_data.insert(
            name.clone(),
            Arc::new(FontData::from_blob(Arc::new(data), face.index)),
        );
        for family in [FontFamily::Proportional, FontFamily::Monospace] {
            definitions
                .families
                .entry(family)
                .or_default()
                .push(name.clone());
        }
        wanted.retain(|w| !found.contains(w));
        added.push((family, found.iter().map(|&(s, _)| s).collect()));
    }
    FallbackFonts {
        definitions,
        added,
        missing: wanted.iter().map(|&(s, _)| s).collect(),
    }
}
