//! The reference augmentations, each switchable and driven by a seeded generator:
//! random-resized-crop, random crop, flips, brightness / contrast / saturation
//! jitter. A draw is a plain value; [`AugmentDraw::render`] applies it in one pass
//! (crop + resize + flip by bilinear sampling, then colour, then normalisation).

use image::RgbImage;
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// torchvision's RandomResizedCrop: a crop of random area and aspect ratio,
    /// resized to the input size.
    pub random_resized_crop: bool,
    /// Range of the crop's area as a fraction of the image (reference: 0.08 to 1).
    pub crop_scale: [f32; 2],
    /// Range of the crop's aspect ratio w/h (reference: 3/4 to 4/3).
    pub crop_ratio: [f32; 2],
    /// A random crop of `random_crop_fraction` of each side, then resize.
    pub random_crop: bool,
    pub random_crop_fraction: f32,
    pub horizontal_flip: bool,
    pub vertical_flip: bool,
    /// Brightness factor drawn from [1 - b, 1 + b]; 0 switches it off.
    pub brightness: f32,
    /// Contrast factor drawn from [1 - c, 1 + c]; 0 switches it off.
    pub contrast: f32,
    /// Saturation factor drawn from [1 - s, 1 + s]; 0 switches it off.
    pub saturation: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            random_resized_crop: true,
            crop_scale: [0.08, 1.0],
            crop_ratio: [3.0 / 4.0, 4.0 / 3.0],
            random_crop: false,
            random_crop_fraction: 0.875,
            horizontal_flip: true,
            vertical_flip: false,
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
        }
    }
}

impl AugmentConfig {
    /// Every augmentation off: training sees the plain resized image.
    pub fn none() -> Self {
        Self {
            random_resized_crop: false,
            horizontal_flip: false,
            ..Self::default()
        }
    }

    /// Draw one set of random parameters for an image of `width` x `height`.
    pub fn draw(&self, width: u32, height: u32, rng: &mut impl Rng) -> AugmentDraw {
        let (w, h) = (width as f32, height as f32);
        let mut crop = [0.0, 0.0, w, h];
        if self.random_resized_crop {
            crop = self.resized_crop(w, h, rng);
        }
        if self.random_crop {
            let (cw, ch) = (
                crop[2] * self.random_crop_fraction,
                crop[3] * self.random_crop_fraction,
            );
            let x = crop[0] + rng.random_range(0.0..=(crop[2] - cw));
            let y = crop[1] + rng.random_range(0.0..=(crop[3] - ch));
            crop = [x, y, cw, ch];
        }
        AugmentDraw {
            crop,
            hflip: self.horizontal_flip && rng.random_bool(0.5),
            vflip: self.vertical_flip && rng.random_bool(0.5),
            brightness: jitter_factor(rng, self.brightness),
            contrast: jitter_factor(rng, self.contrast),
            saturation: jitter_factor(rng, self.saturation),
        }
    }

    /// torchvision's RandomResizedCrop.get_params: ten tries at a random area and
    /// log-uniform ratio, then a centre crop with the ratio clamped.
    fn resized_crop(&self, w: f32, h: f32, rng: &mut impl Rng) -> [f32; 4] {
        let area = w * h;
        let (lr0, lr1) = (self.crop_ratio[0].ln(), self.crop_ratio[1].ln());
        for _ in 0..10 {
            let target = area * rng.random_range(self.crop_scale[0]..=self.crop_scale[1]);
            let ratio = rng.random_range(lr0..=lr1).exp();
            let cw = (target * ratio).sqrt().round();
            let ch = (target / ratio).sqrt().round();
            if cw > 0.0 && ch > 0.0 && cw <= w && ch <= h {
                let x = rng.random_range(0.0..=(w - cw)).round();
                let y = rng.random_range(0.0..=(h - ch)).round();
                return [x, y, cw, ch];
            }
        }
        let in_ratio = w / h;
        let (cw, ch) = if in_ratio < self.crop_ratio[0] {
            (w, (w / self.crop_ratio[0]).round())
        } else if in_ratio > self.crop_ratio[1] {
            ((h * self.crop_ratio[1]).round(), h)
        } else {
            (w, h)
        };
        [((w - cw) / 2.0).floor(), ((h - ch) / 2.0).floor(), cw, ch]
    }
}

/// A colour-jitter factor in [1 - amount, 1 + amount], or exactly 1 when off.
fn jitter_factor(rng: &mut impl Rng, amount: f32) -> f32 {
    if amount > 0.0 {
        rng.random_range((1.0 - amount).max(0.0)..=(1.0 + amount))
    } else {
        1.0
    }
}

/// One draw of the augmentation parameters for one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentDraw {
    /// x, y, width, height of the crop in source pixels.
    pub crop: [f32; 4],
    pub hflip: bool,
    pub vflip: bool,
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
}

impl AugmentDraw {
    /// No change: the whole image, resized.
    pub fn identity(width: u32, height: u32) -> Self {
        Self {
            crop: [0.0, 0.0, width as f32, height as f32],
            hflip: false,
            vflip: false,
            brightness: 1.0,
            contrast: 1.0,
            saturation: 1.0,
        }
    }

    /// Sample the crop into `size` x `size`, apply flips and colour jitter, clamp
    /// to [0, 1] and write `(v - mean) / std` into `out` (CHW, 3 * size * size).
    pub fn render(
        &self,
        src: &RgbImage,
        size: usize,
        mean: [f32; 3],
        std: [f32; 3],
        out: &mut [f32],
    ) {
        let plane = size * size;
        assert_eq!(
            out.len(),
            3 * plane,
            "output buffer must hold 3 x size x size"
        );
        let (sw, sh) = (src.width() as usize, src.height() as usize);
        let raw = src.as_raw();
        let [x0, y0, cw, ch] = self.crop;
        let (sx, sy) = (cw / size as f32, ch / size as f32);
        for oy in 0..size {
            let ty = if self.vflip { size - 1 - oy } else { oy };
            let fy = (y0 + (ty as f32 + 0.5) * sy - 0.5).clamp(0.0, (sh - 1) as f32);
            let (iy, wy) = (fy as usize, fy.fract());
            let iy1 = (iy + 1).min(sh - 1);
            for ox in 0..size {
                let tx = if self.hflip { size - 1 - ox } else { ox };
                let fx = (x0 + (tx as f32 + 0.5) * sx - 0.5).clamp(0.0, (sw - 1) as f32);
                let (ix, wx) = (fx as usize, fx.fract());
                let ix1 = (ix + 1).min(sw - 1);
                for c in 0..3 {
                    let p = |x: usize, y: usize| raw[(y * sw + x) * 3 + c] as f32;
                    let top = p(ix, iy) * (1.0 - wx) + p(ix1, iy) * wx;
                    let bottom = p(ix, iy1) * (1.0 - wx) + p(ix1, iy1) * wx;
                    out[c * plane + oy * size + ox] =
                        (top * (1.0 - wy) + bottom * wy) / 255.0 * self.brightness;
                }
            }
        }
        let gray = |out: &[f32], i: usize| {
            0.299 * out[i] + 0.587 * out[plane + i] + 0.114 * out[2 * plane + i]
        };
        if self.brightness != 1.0 {
            out.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
        }
        if self.contrast != 1.0 {
            let m = (0..plane).map(|i| gray(out, i)).sum::<f32>() / plane as f32;
            out.iter_mut()
                .for_each(|v| *v = ((*v - m) * self.contrast + m).clamp(0.0, 1.0));
        }
        if self.saturation != 1.0 {
            for i in 0..plane {
                let g = gray(out, i);
                for c in 0..3 {
                    let v = &mut out[c * plane + i];
                    *v = ((*v - g) * self.saturation + g).clamp(0.0, 1.0);
                }
            }
        }
        for c in 0..3 {
            for v in &mut out[c * plane..(c + 1) * plane] {
                *v = (*v - mean[c]) / std[c];
            }
        }
    }
}
