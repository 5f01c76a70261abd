//! The building blocks of the configuration forms: a labelled row that shows
//! its field's problem, and a combo box.

use std::ops::RangeInclusive;

use egui::emath::Numeric;
use egui::{DragValue, RichText, Ui};

use super::theme;
use crate::run::{ConfigProblem, Field};

/// The config's problems, as the form's rows show them.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'a>(pub &'a [ConfigProblem]);

impl<'a> Checked<'a> {
    /// The first problem of any of `fields` (the ones a row edits).
    pub fn problem(self, fields: &[Field]) -> Option<&'a ConfigProblem> {
        self.0.iter().find(|p| fields.contains(&p.field))
    }

    /// The row of numeric fields (usually one): the first field's
    /// declaration ([`Field::spec`]) gives the label, help and the range
    /// `add` draws its editor for; the row shows the problems of all of them.
    pub fn field_row(
        self,
        ui: &mut Ui,
        fields: &[Field],
        add: impl FnOnce(&mut Ui, RangeInclusive<f64>),
    ) {
        let Some(&first) = fields.first() else {
            return;
        };
        let (label, help) = first
            .spec()
            .map_or((first.path(), ""), |s| (s.label, s.help));
        let range = range_of(first);
        row(ui, label, help, self.problem(fields), |ui| add(ui, range));
    }
}

/// The valid range of a numeric field, for a row that edits more than one.
pub fn range_of(field: Field) -> RangeInclusive<f64> {
    field
        .spec()
        .map_or(f64::NEG_INFINITY..=f64::INFINITY, |s| s.bounds.drag_range())
}

/// An editor for a count over `range` that still shows (and so lets the form
/// flag) a value outside it, loaded from a preset, say.
pub fn count_value<N: Numeric>(value: &mut N, range: RangeInclusive<f64>) -> DragValue<'_> {
    DragValue::new(value)
        .range(range)
        .clamp_existing_to_range(false)
}

/// An editor for a fraction or factor over `range`, stepping by hundredths.
pub fn fine_value<N: Numeric>(value: &mut N, range: RangeInclusive<f64>) -> DragValue<'_> {
    count_value(value, range).speed(0.01)
}

/// An editor for a rate or decay, in scientific notation.
pub fn rate_value(value: &mut f64, range: RangeInclusive<f64>, speed: f64) -> DragValue<'_> {
    count_value(value, range)
        .speed(speed)
        .custom_formatter(|v, _| format!("{v:.1e}"))
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

/// A row holding one drop-down of `options` over `value`.
pub fn combo_row<T: Copy + PartialEq>(
    ui: &mut Ui,
    (label, help): (&str, &str),
    value: &mut T,
    options: &[(T, &str)],
) {
    row(ui, label, help, None, |ui| combo(ui, label, value, options));
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
