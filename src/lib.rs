//! facebench: train and inspect face-classification CNNs.
//!
//! Data flows one way: [`data`] scans and decodes a folder of faces, [`loader`]
//! augments and batches it, [`engine`] trains a [`model`] on a background thread
//! and streams [`engine::TrainEvent`]s, [`store`] writes every run to disk, and
//! [`eval`] computes the metrics shown afterwards. [`weights`] reads pretrained
//! Keras/PyTorch files. The [`cli`] drives it headless.

pub mod cli;
pub mod data;
pub mod engine;
pub mod eval;
pub mod files;
pub mod gui;
pub mod kernels;
pub mod loader;
pub mod model;
pub mod numbers;
pub mod run;
pub mod store;
pub mod weights;
