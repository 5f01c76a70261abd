//! Class activation maps from a layer's activations and the gradient of a
//! class score with respect to them (Selvaraju et al. 2017, Grad-CAM;
//! Chattopadhay et al. 2018, Grad-CAM++), and what is drawn from them.
//! Plain numbers in, plain numbers out: the network side is the engine's.

use serde::{Deserialize, Serialize};

/// How the channels of the activations are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CamMethod {
    /// Each channel weighs the mean of its gradient.
    #[default]
    GradCam,
    /// Each position's positive gradient, weighted by the closed form of
    /// Grad-CAM++ (with the exponential of the score, as in its paper and
    /// pytorch-grad-cam): sharper where a class has several regions.
    GradCamPlusPlus,
}

impl CamMethod {
    pub fn name(self) -> &'static str {
        match self {
            CamMethod::GradCam => "gradcam",
            CamMethod::GradCamPlusPlus => "gradcam++",
        }
    }

    pub fn parse(text: &str) -> Result<CamMethod, String> {
        match text {
            "gradcam" | "grad-cam" => Ok(CamMethod::GradCam),
            "gradcam++" | "grad-cam++" | "gradcampp" => Ok(CamMethod::GradCamPlusPlus),
            other => Err(format!(
                "unknown method {other:?}; use gradcam or gradcam++"
            )),
        }
    }
}

/// The weight of each channel of one image's activations (`[channels, h,
/// w]`, row-major, as its gradients): how much the class score rises with
/// the channel.
pub fn channel_weights(
    activations: &[f32],
    gradients: &[f32],
    (channels, h, w): (usize, usize, usize),
    method: CamMethod,
) -> Vec<f32> {
    let plane = h * w;
    debug_assert_eq!(activations.len(), channels * plane);
    debug_assert_eq!(gradients.len(), channels * plane);
    (0..channels)
        .map(|k| {
            let a = &activations[k * plane..][..plane];
            let g = &gradients[k * plane..][..plane];
            (match method {
                CamMethod::GradCam => g.iter().map(|&v| v as f64).sum::<f64>() / plane as f64,
                CamMethod::GradCamPlusPlus => plus_plus_weight(a, g),
            }) as f32
        })
        .collect()
}

/// The map `ReLU(Σk wk·Ak)` over the `h x w` positions of `activations`
/// (`[channels, h, w]`) with channel weights `weights`, not yet normalised.
pub fn weighted_map(activations: &[f32], weights: &[f32], (h, w): (usize, usize)) -> Vec<f32> {
    let plane = h * w;
    let mut cam = vec![0.0f32; plane];
    for (k, &weight) in weights.iter().enumerate() {
        for (c, &av) in cam.iter_mut().zip(&activations[k * plane..][..plane]) {
            *c += weight * av;
        }
    }
    for c in &mut cam {
        *c = c.max(0.0);
    }
    cam
}

/// Grad-CAM++'s weight of one channel: `Σij αij·ReLU(gij)` with
/// `αij = g² / (2g² + ΣA·g³)`.
fn plus_plus_weight(a: &[f32], g: &[f32]) -> f64 {
    let sum_a: f64 = a.iter().map(|&v| v as f64).sum();
    g.iter()
        .map(|&gv| {
            let gv = gv as f64;
            let (g2, g3) = (gv * gv, gv * gv * gv);
            let denominator = 2.0 * g2 + sum_a * g3;
            let alpha = if gv != 0.0 && denominator != 0.0 {
                g2 / denominator
            } else {
                0.0
            };
            alpha * gv.max(0.0)
        })
        .sum()
}

/// `map` (`h x w`) scaled to `[0, 1]` by its maximum; all zeros stay zeros.
pub fn normalised(map: &[f32]) -> Vec<f32> {
    let max = map.iter().copied().fold(0.0f32, f32::max);
    if max > 0.0 {
        map.iter().map(|v| v / max).collect()
    } else {
        vec![0.0; map.len()]
    }
}

/// Bilinear resize of `map` (`h x w`) to `out_h x out_w`, pixel centres
/// aligned as in OpenCV's and PyTorch's `align_corners=False`.
pub fn resize_bilinear(
    map: &[f32],
    (h, w): (usize, usize),
    (out_h, out_w): (usize, usize),
) -> Vec<f32> {
    let source = |out: usize, len: usize, out_len: usize| {
        let x = ((out as f64 + 0.5) * len as f64 / out_len as f64 - 0.5).max(0.0);
        let i0 = (x.floor() as usize).min(len - 1);
        let i1 = (i0 + 1).min(len - 1);
        (i0, i1, (x - i0 as f64) as f32)
    };
    let mut out = Vec::with_capacity(out_h * out_w);
    for oy in 0..out_h {
        let (y0, y1, ty) = source(oy, h, out_h);
        for ox in 0..out_w {
            let (x0, x1, tx) = source(ox, w, out_w);
            let top = map[y0 * w + x0] * (1.0 - tx) + map[y0 * w + x1] * tx;
            let bottom = map[y1 * w + x0] * (1.0 - tx) + map[y1 * w + x1] * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    out
}

/// The share of `map`'s mass (`h x w`, non-negative) in the rectangle of
/// rows `rows` and columns `cols`; 0 for an empty map.
pub fn mass_share(
    map: &[f32],
    w: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
) -> f64 {
    let total: f64 = map.iter().map(|&v| v as f64).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let inside: f64 = rows
        .flat_map(|y| cols.clone().map(move |x| (y, x)))
        .map(|(y, x)| map[y * w + x] as f64)
        .sum();
    inside / total
}

/// The jet colour of `v` in `[0, 1]` (blue, cyan, yellow, red), as the
/// heatmaps of Grad-CAM papers are drawn.
pub fn jet(v: f32) -> [u8; 3] {
    let v = v.clamp(0.0, 1.0);
    let channel = |centre: f32| ((1.5 - (4.0 * v - centre).abs()).clamp(0.0, 1.0) * 255.0) as u8;
    [channel(3.0), channel(2.0), channel(1.0)]
}

/// `rgb` pixels (row-major, 3 bytes each) with `heat` (one value in
/// `[0, 1]` per pixel) drawn over them in jet at `opacity`.
pub fn overlay(rgb: &[u8], heat: &[f32], opacity: f32) -> Vec<u8> {
    let opacity = opacity.clamp(0.0, 1.0);
    let mut out = Vec::with_capacity(rgb.len());
    for (pixel, &h) in rgb.chunks_exact(3).zip(heat) {
        let colour = jet(h);
        for (&p, &c) in pixel.iter().zip(&colour) {
            out.push((p as f32 * (1.0 - opacity) + c as f32 * opacity).round() as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The map of one image, as the explainer makes it.
    fn class_activation_map(
        activations: &[f32],
        gradients: &[f32],
        (channels, h, w): (usize, usize, usize),
        method: CamMethod,
    ) -> Vec<f32> {
        let weights = channel_weights(activations, gradients, (channels, h, w), method);
        weighted_map(activations, &weights, (h, w))
    }

    #[test]
    fn grad_cam_weighs_channels_by_their_mean_gradient() {
        // two channels over 2 x 2: the first helps the class, the second hurts
        let a = [1.0, 0.0, 0.0, 0.0, /* channel 2 */ 0.0, 0.0, 0.0, 2.0];
        let g = [
            0.4, 0.4, 0.4, 0.4, /* channel 2 */ -0.2, -0.2, -0.2, -0.2,
        ];
        let cam = class_activation_map(&a, &g, (2, 2, 2), CamMethod::GradCam);
        // weights 0.4 and -0.2: 0.4 at (0,0), -0.4 clipped to 0 at (1,1)
        assert_eq!(cam, vec![0.4, 0.0, 0.0, 0.0]);
        assert_eq!(normalised(&cam), vec![1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn grad_cam_plus_plus_follows_its_closed_form() {
        let a = [1.0, 3.0];
        let g = [0.5, -1.0];
        // ΣA = 4; α0 = 0.25 / (0.5 + 4 * 0.125) = 0.25; α1 = 1 / (2 - 4) = -0.5
        // weight = 0.25 * 0.5 + (-0.5) * 0 = 0.125
        let cam = class_activation_map(&a, &g, (1, 1, 2), CamMethod::GradCamPlusPlus);
        assert_eq!(cam, vec![0.125, 0.375]);
    }

    #[test]
    fn bilinear_resize_keeps_constants_and_centres() {
        assert_eq!(resize_bilinear(&[2.0; 4], (2, 2), (5, 7)), vec![2.0; 35]);
        // 1 x 2 -> 1 x 4: the outer pixels copy the ends, the inner ones mix
        let r = resize_bilinear(&[0.0, 1.0], (1, 2), (1, 4));
        assert_eq!(r, vec![0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn mass_share_counts_the_rectangle() {
        let map = [1.0, 1.0, 0.0, 2.0];
        assert_eq!(mass_share(&map, 2, 0..1, 0..2), 0.5);
        assert_eq!(mass_share(&map, 2, 1..2, 1..2), 0.5);
        assert_eq!(mass_share(&[0.0; 4], 2, 0..1, 0..1), 0.0);
    }

    #[test]
    fn jet_runs_from_blue_to_red_and_overlay_blends() {
        assert_eq!(jet(0.0), [0, 0, 127]);
        assert_eq!(jet(1.0), [127, 0, 0]);
        assert_eq!(jet(0.5), [127, 255, 127]);
        assert_eq!(overlay(&[100, 100, 100], &[0.0], 0.0), vec![100, 100, 100]);
        assert_eq!(overlay(&[100, 100, 100], &[1.0], 1.0), jet(1.0).to_vec());
    }
}
