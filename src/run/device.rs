//! Where a run asks to train, parsed once from text ("auto", "cpu", "cuda",
//! "cuda:N", "wgpu", "wgpu:N") at the edge: the CLI flag, the form, run.json. Which backend that
//! resolves to on this machine is the engine's business.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What the user asked for. Stored in run.json as its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// A GPU when this build can use one and it is ready (CUDA first, then a
    /// hardware wgpu adapter), the CPU otherwise.
    #[default]
    Auto,
    Cpu,
    /// NVIDIA GPU N through burn-cuda.
    Cuda(usize),
    /// wgpu adapter N (Vulkan, Metal or DX12) through burn-wgpu, numbered as
    /// `facebench doctor` lists them.
    Wgpu(usize),
}

impl DeviceChoice {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "auto" | "" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            "wgpu" => Ok(DeviceChoice::Wgpu(0)),
            _ => {
                let indexed = |prefix: &str| t.strip_prefix(prefix).and_then(|n| n.parse().ok());
                indexed("cuda:")
                    .map(DeviceChoice::Cuda)
                    .or_else(|| indexed("wgpu:").map(DeviceChoice::Wgpu))
                    .ok_or_else(|| {
                        format!(
                            "unknown device '{text}'; use auto, cpu, cuda, cuda:N, wgpu or wgpu:N"
                        )
                    })
            }
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
            DeviceChoice::Wgpu(0) => f.write_str("wgpu"),
            DeviceChoice::Wgpu(n) => write!(f, "wgpu:{n}"),
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
        for text in ["auto", "cpu", "cuda", "cuda:3", "wgpu", "wgpu:2"] {
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
        assert_eq!(DeviceChoice::parse("wgpu:0"), Ok(DeviceChoice::Wgpu(0)));
        assert!(DeviceChoice::parse("wgpu:x").is_err());
        let err = serde_json::from_str::<DeviceChoice>("\"tpu\"").unwrap_err();
        assert!(err.to_string().contains("unknown device 'tpu'"), "{err}");
    }
}
