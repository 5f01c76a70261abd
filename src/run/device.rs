//! Where a run asks to train, parsed once from text ("auto", "cpu", "cuda",
//! "cuda:N") at the edge: the CLI flag, the form, run.json. Which backend that
//! resolves to on this machine is the engine's business.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What the user asked for. Stored in run.json as its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// CUDA when this build has it and a driver loads, the CPU otherwise.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl DeviceChoice {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "auto" | "" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            _ => t
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| format!("unknown device '{text}'; use auto, cpu, cuda or cuda:N")),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(0) => f.write_str("cuda"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<DeviceChoice> for String {
    fn from(choice: DeviceChoice) -> String {
        choice.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_text_round_trips_and_rejects_unknown_names() {
        for text in ["auto", "cpu", "cuda", "cuda:3"] {
            let choice = DeviceChoice::parse(text).expect("a known device");
            assert_eq!(choice.to_string(), text);
            let json = serde_json::to_string(&choice).expect("serialises");
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(
                serde_json::from_str::<DeviceChoice>(&json).ok(),
                Some(choice)
            );
        }
        assert_eq!(DeviceChoice::parse("GPU"), Ok(DeviceChoice::Cuda(0)));
        let err = serde_json::from_str::<DeviceChoice>("\"tpu\"").unwrap_err();
        assert!(err.to_string().contains("unknown device 'tpu'"), "{err}");
    }
}
