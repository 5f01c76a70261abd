//! The status line under the Train button. Each message says what it is about,
//! so it can be cleared when that changes (a "no folder chosen" must not
//! outlive the path typed after it).

/// What a status message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusTopic {
    /// The dataset folder: picking, typing, the demo dataset.
    Dataset,
    /// Loading and saving presets.
    Preset,
    /// Files written: CSV exports, screenshots.
    File,
    /// Starting or resuming a run.
    Run,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub topic: StatusTopic,
    pub text: String,
}

impl Status {
    pub fn new(topic: StatusTopic, text: impl Into<String>) -> Self {
        Self {
            topic,
            text: text.into(),
        }
    }
}
