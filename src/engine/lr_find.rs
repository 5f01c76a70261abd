//! The learning-rate finder (fastai's `lr_find`): train the config's model
//! from its start for up to `iterations` steps while the learning rate grows
//! exponentially from `start_lr` to `end_lr`, smooth the loss, stop once it
//! passes 4x its minimum, and suggest a rate (steepest descent, valley).
//! Nothing is written into the runs folder and no run's model is touched:
//! the network is built, stepped and dropped here.

use std::path::PathBuf;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::control::TrainControl;
use super::device::OnBackend;
use super::optimizer::AnyOptimizer;
use super::phases;
use super::prepare::{prepare_data, Decode, PreparedData};
use super::step::optimisation_step;
use crate::model::Network;
use crate::run::RunConfig;

/// fastai's smoothing of the recorded loss.
const SMOOTHING: f64 = 0.98;

/// What `facebench lr-find` and the form's *Find LR* ask for.
#[derive(Debug, Clone)]
pub struct LrFindRequest {
    pub config: RunConfig,
    pub data_root: PathBuf,
    pub start_lr: f64,
    pub end_lr: f64,
    /// At most this many steps (fewer when the loss diverges).
    pub iterations: usize,
    /// Stop when the smoothed loss passes this many times its minimum.
    pub divergence: f64,
}

impl LrFindRequest {
    /// fastai's defaults: 1e-7 to 10 over at most 200 steps, stop at 4x.
    pub fn new(config: RunConfig, data_root: PathBuf) -> Self {
        Self {
            config,
            data_root,
            start_lr: 1e-7,
            end_lr: 10.0,
            iterations: 200,
            divergence: 4.0,
        }
    }

    /// The rate of step `i` (0-based).
    pub fn lr_at(&self, i: usize) -> f64 {
        let last = self.iterations.saturating_sub(1).max(1) as f64;
        self.start_lr * (self.end_lr / self.start_lr).powf(i as f64 / last)
    }
}

/// One step of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrPoint {
    pub lr: f64,
    pub loss: f64,
    /// The loss smoothed (exponential average, bias-corrected).
    pub smoothed: f64,
}

/// Why the sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrFindEnd {
    /// All the iterations ran.
    Completed,
    /// The smoothed loss passed `divergence` x its minimum, or was not finite.
    Diverged,
    /// The user stopped it.
    Stopped,
}

impl LrFindEnd {
    /// How the sweep ended, in words (the CLI and the window say the same).
    pub fn describe(self) -> &'static str {
        match self {
            LrFindEnd::Completed => "ran all its steps",
            LrFindEnd::Diverged => "stopped when the loss passed 4x its minimum",
            LrFindEnd::Stopped => "stopped by the user",
        }
    }
}

/// The sweep and its suggestions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrFindResult {
    pub points: Vec<LrPoint>,
    pub end: LrFindEnd,
    /// Where the smoothed loss falls fastest against log(lr).
    pub steepest: Option<f64>,
    /// fastai's "valley": half-way into the middle third of the longest
    /// descending run of the smoothed loss.
    pub valley: Option<f64>,
    /// The config's architecture and batch size, for the plot's title.
    pub label: String,
}

/// Run the sweep on `request.config.device`; `on_point` sees each step.
pub fn find_lr(
    request: &LrFindRequest,
    control: &TrainControl,
    on_point: &mut (dyn FnMut(&LrPoint) + Send),
) -> anyhow::Result<LrFindResult> {
    request.config.check()?;
    anyhow::ensure!(
        request.start_lr > 0.0 && request.end_lr > request.start_lr && request.iterations >= 2,
        "the sweep needs 0 < start {} < end {} and at least 2 iterations",
        request.start_lr,
        request.end_lr
    );
    let data = prepare_data(
        &request.data_root,
        &request.config,
        Decode::Training,
        &mut |_, _| {},
    )?;
    let device = request
        .config
        .device
        .resolve()
        .map_err(anyhow::Error::msg)?;
    let (points, end) = device.dispatch(SweepJob {
        request,
        data: &data,
        control,
        on_point,
    })?;
    let (steepest, valley) = suggestions(&points);
    Ok(LrFindResult {
        points,
        end,
        steepest,
        valley,
        label: format!(
            "{}, batch {}",
            request.config.model.display_name(),
            request.config.train.batch_size
        ),
    })
}

impl LrFindResult {
    /// Write the sweep to a new scratch file under the cache folder
    /// (`lr-find/`), never into a run; returns its path.
    pub fn save_scratch(&self) -> anyhow::Result<PathBuf> {
        let dir = crate::data::cache_dir().join("lr-find");
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S%.3f");
        let path = dir.join(format!("{stamp}.json"));
        crate::files::atomic_write(&path, &serde_json::to_vec_pretty(self)?)?;
        Ok(path)
    }

    /// A sweep saved by [`Self::save_scratch`].
    pub fn load_scratch(path: &std::path::Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("{} is not an LR-finder result: {e}", path.display()))
    }
}

/// The two suggestions from the smoothed curve, with fastai's trimming (the
/// first tenth and the last five points are left out).
pub fn suggestions(points: &[LrPoint]) -> (Option<f64>, Option<f64>) {
    let n = points.len();
    let (from, to) = (n / 10, n.saturating_sub(5));
    if to <= from + 2 {
        return (None, None);
    }
    let p = &points[from..to];
    let steepest = (0..p.len() - 1)
        .map(|i| {
            let slope = (p[i + 1].smoothed - p[i].smoothed) / (p[i + 1].lr.ln() - p[i].lr.ln());
            (i, slope)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| p[i].lr);
    (steepest, Some(p[valley_index(p)].lr))
}

/// fastai's valley: the longest decreasing subsequence of the loss, then a
/// point half-way through its middle third.
fn valley_index(p: &[LrPoint]) -> usize {
    let n = p.len();
    let mut lds = vec![1usize; n];
    let (mut max_start, mut max_end) = (0usize, 0usize);
    for i in 1..n {
        for j in 0..i {
            if p[i].smoothed < p[j].smoothed && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
            if lds[max_end] < lds[i] {
                max_end = i;
                max_start = max_end + 1 - lds[max_end];
            }
        }
    }
    let sections = (max_end - max_start) as f64 / 3.0;
    (max_start + sections as usize + (sections / 2.0) as usize).min(n - 1)
}

/// The sweep on one backend, as work for [`super::ResolvedDevice::dispatch`].
struct SweepJob<'a> {
    request: &'a LrFindRequest,
    data: &'a PreparedData,
    control: &'a TrainControl,
    on_point: &'a mut (dyn FnMut(&LrPoint) + Send),
}

impl OnBackend for SweepJob<'_> {
    type Output = anyhow::Result<(Vec<LrPoint>, LrFindEnd)>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let (request, config) = (self.request, &self.request.config);
        B::seed(&device, config.train.seed);
        let mut model: Network<B> = config.model.init(self.data.dataset.classes.len(), &device);
        if let Some(spec) = &config.model.weights {
            let path = crate::weights::resolve_weights(spec)?;
            model = crate::weights::load_pretrained(model, &path)?.0;
        }
        // the rate the form's learning rate sets: the first phase's
        let phase = phases::first_phase(config);
        let mut model = model.with_freeze(&phases::freeze_plan(config, phase));
        let mut optimizer = AnyOptimizer::new(&phases::optimizer_config(config, phase));
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let plan = self.data.plan(&self.data.train, config, true);
        let (mut points, mut average, mut best) = (Vec::new(), 0.0, f64::INFINITY);
        let mut epoch = 0;
        while points.len() < request.iterations {
            for batch in plan.epoch(epoch, true) {
                let batch = batch?;
                if self.control.is_stopping() {
                    return Ok((points, LrFindEnd::Stopped));
                }
                let i = points.len();
                let lr = request.lr_at(i);
                let stats;
                (model, stats) =
                    optimisation_step(model, &mut optimizer, &loss_fn, batch, lr, &device);
                let (value, _) = stats.read()?;
                average = SMOOTHING * average + (1.0 - SMOOTHING) * value;
                let smoothed = average / (1.0 - SMOOTHING.powi(i as i32 + 1));
                let point = LrPoint {
                    lr,
                    loss: value,
                    smoothed,
                };
                points.push(point);
                (self.on_point)(&point);
                best = best.min(smoothed);
                if !smoothed.is_finite() || smoothed > request.divergence * best {
                    return Ok((points, LrFindEnd::Diverged));
                }
                if points.len() >= request.iterations {
                    break;
                }
            }
            epoch += 1;
        }
        Ok((points, LrFindEnd::Completed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(losses: &[f64]) -> Vec<LrPoint> {
        losses
            .iter()
            .enumerate()
            .map(|(i, &l)| LrPoint {
                lr: 1e-6 * 10f64.powf(i as f64 / 10.0),
                loss: l,
                smoothed: l,
            })
            .collect()
    }

    #[test]
    fn the_suggestions_fall_where_the_loss_falls() {
        // flat at 3 until point 40, falls steepest around 55, flat again to
        // 80, then rises
        let losses: Vec<f64> = (0..100)
            .map(|i| {
                let i = i as f64;
                if i < 80.0 {
                    2.0 + 1.0 / (1.0 + ((i - 55.0) / 4.0).exp())
                } else {
                    2.0 + (i - 80.0) * 0.3
                }
            })
            .collect();
        let points = curve(&losses);
        let (steepest, valley) = suggestions(&points);
        let at = |lr: f64| points.iter().position(|p| p.lr == lr).unwrap();
        let s = at(steepest.unwrap());
        assert!((53..=57).contains(&s), "steepest at {s}");
        let v = at(valley.unwrap());
        // the longest descent runs from about 10 (after the trimmed tenth)
        // to 79: half-way into its middle third
        assert!((40..=60).contains(&v), "valley at {v}");
    }

    #[test]
    fn too_short_a_sweep_suggests_nothing() {
        assert_eq!(suggestions(&curve(&[3.0, 2.0, 1.0, 9.0])), (None, None));
    }

    #[test]
    fn the_rates_grow_exponentially_from_start_to_end() {
        let r = LrFindRequest::new(RunConfig::default(), PathBuf::new());
        assert!((r.lr_at(0) - 1e-7).abs() < 1e-20);
        assert!((r.lr_at(199) - 10.0).abs() < 1e-9);
        assert!((r.lr_at(100) / r.lr_at(99) - r.lr_at(1) / r.lr_at(0)).abs() < 1e-9);
    }
}
