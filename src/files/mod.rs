//! Small file utilities every layer may use: writing a file so that a crash
//! never leaves half of it, quoting CSV fields, turning a user's text into a
//! safe file name, and recording a path absolute.

mod atomic;
mod csv;
mod names;
mod paths;

pub use atomic::{atomic_write, write_file};
pub use csv::csv_quote;
pub use names::{file_name_from, hex};
pub use paths::canonical;
