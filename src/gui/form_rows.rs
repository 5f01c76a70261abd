//! The building blocks of the configuration forms: a labelled row that shows
//! its field's problem, and a combo box.

use egui::{RichText, Ui};

use super::theme;
use crate::run::ConfigProblem;

/// The first problem of field `key` or of a field inside it.
pub fn problem_for<'a>(problems: &'a [ConfigProblem], key: &str) -> Option<&'a ConfigProblem> {
    problems
        .iter()
        .find(|p| p.key == key || p.key.starts_with(&format!("{key}.")))
}

/// A labelled row; the label turns red with the problem as tooltip when invalid.
pub fn row(
    ui: &mut Ui,
    label: &str,
    tip: &str,
    problem: Option<&ConfigProblem>,
    add: impl FnOnce(&mut Ui),
) {
    ui.horizontal(|ui| {
        let text = match problem {
            Some(_) => RichText::new(label).color(theme::ERROR),
            None => RichText::new(label),
        };
        let r = ui.add_sized([theme::FORM_LABEL_WIDTH, 18.0], egui::Label::new(text));
        match problem {
            Some(p) => r.on_hover_text(format!("{tip}\n\n{}", p.message)),
            None => r.on_hover_text(tip),
        };
        add(ui);
    });
    if let Some(p) = problem {
        ui.label(
            RichText::new(format!("  {}", p.message))
                .small()
                .color(theme::ERROR),
        );
    }
}

/// A combo box over `options` (value, label).
pub fn combo<T: Copy + PartialEq>(ui: &mut Ui, id: &str, value: &mut T, options: &[(T, &str)]) {
    let current = options
        .iter()
        .find(|(v, _)| v == value)
        .map_or("?", |(_, n)| n);
    egui::ComboBox::from_id_salt(id)
        .selected_text(current)
        .show_ui(ui, |ui| {
            for (v, name) in options {
                ui.selectable_value(value, *v, *name);
            }
        });
}
