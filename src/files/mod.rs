//! Small file utilities every layer may use: writing a file so that a crash
//! never leaves half of it, quoting CSV fields, turning a user's text into a
//! safe file name, recording a path absolute, and reading little-endian
//! fields of binary files.

mod atomic;
mod binary;
mod csv;
mod names;
mod paths;

pub use atomic::{atomic_write, write_file};
pub use binary::{u32_le, u64_le};
pub use csv::csv_quote;
pub use names::{file_name_from, hex};
pub use paths::canonical;
