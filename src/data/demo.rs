//! The built-in demo dataset: procedurally drawn faces with identity-specific
//! features (face shape, skin, hair, eyes, brows, nose, mouth, beard, glasses) and
//! per-image pose, expression, lighting, background and noise. It is learnable
//! well above chance in about a minute on a CPU, but not trivially: backgrounds and
//! lighting vary more between photos of one person than identities do.

use std::path::{Path, PathBuf};

use anyhow::Context;
use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DemoConfig {
    pub people: usize,
    pub images_per_person: usize,
    /// Side of the square images in pixels.
    pub size: u32,
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            people: 8,
            images_per_person: 60,
            size: 96,
            seed: 7,
        }
    }
}

/// The features that make one synthetic person recognisable.
#[derive(Debug, Clone)]
struct Identity {
    skin: [f32; 3],
    hair: [f32; 3],
    iris: [f32; 3],
    face_w: f32,
    face_h: f32,
    hair_top: f32,
    long_hair: bool,
    eye_sep: f32,
    eye_y: f32,
    eye_size: f32,
    brow_thick: f32,
    brow_tilt: f32,
    nose_len: f32,
    nose_w: f32,
    mouth_w: f32,
    mouth_y: f32,
    mouth_curve: f32,
    beard: bool,
    glasses: bool,
}

/// How one photo of a person differs from the next.
#[derive(Debug, Clone)]
struct Shot {
    angle: f32,
    scale: f32,
    shift: (f32, f32),
    yaw: f32,
    smile: f32,
    eye_open: f32,
    ambient: f32,
    light_dir: (f32, f32),
    light_strength: f32,
    bg_a: [f32; 3],
    bg_b: [f32; 3],
    noise: f32,
}

fn color(rng: &mut ChaCha8Rng) -> [f32; 3] {
    [rng.random(), rng.random(), rng.random()]
}

impl Identity {
    fn draw(rng: &mut ChaCha8Rng) -> Self {
        let tone: f32 = rng.random_range(0.25..0.95);
        let skin = [
            tone,
            tone * rng.random_range(0.72..0.86),
            tone * rng.random_range(0.55..0.72),
        ];
        let h: f32 = rng.random_range(0.05..0.6);
        let hair = [
            h * rng.random_range(0.8..1.6),
            h * rng.random_range(0.6..1.1),
            h * rng.random_range(0.4..0.9),
        ];
        Self {
            skin,
            hair,
            iris: color(rng),
            face_w: rng.random_range(0.42..0.58),
            face_h: rng.random_range(0.58..0.72),
            hair_top: rng.random_range(0.0..0.22),
            long_hair: rng.random_bool(0.4),
            eye_sep: rng.random_range(0.34..0.5),
            eye_y: rng.random_range(-0.18..-0.04),
            eye_size: rng.random_range(0.07..0.12),
            brow_thick: rng.random_range(0.015..0.045),
            brow_tilt: rng.random_range(-0.08..0.08),
            nose_len: rng.random_range(0.14..0.3),
            nose_w: rng.random_range(0.02..0.05),
            mouth_w: rng.random_range(0.22..0.42),
            mouth_y: rng.random_range(0.3..0.44),
            mouth_curve: rng.random_range(-0.06..0.1),
            beard: rng.random_bool(0.3),
            glasses: rng.random_bool(0.25),
        }
    }
}

impl Shot {
    fn draw(rng: &mut ChaCha8Rng) -> Self {
        let a: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        Self {
            angle: rng.random_range(-0.25..0.25),
            scale: rng.random_range(0.82..1.1),
            shift: (rng.random_range(-0.12..0.12), rng.random_range(-0.1..0.1)),
            yaw: rng.random_range(-0.12..0.12),
            smile: rng.random_range(-0.06..0.08),
            eye_open: rng.random_range(0.45..1.0),
            ambient: rng.random_range(0.6..1.2),
            light_dir: (a.cos(), a.sin()),
            light_strength: rng.random_range(0.0..0.5),
            bg_a: color(rng),
            bg_b: color(rng),
            noise: rng.random_range(0.02..0.08),
        }
    }
}

fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = (dx * dx + dy * dy).max(1e-9);
    let t = (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0);
    let (cx, cy) = (a.0 + t * dx - p.0, a.1 + t * dy - p.1);
    (cx * cx + cy * cy).sqrt()
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// Colour of the face at canonical coordinates `(x, y)` (both in about [-1, 1],
/// y pointing down), or `None` outside the head.
fn face_color(id: &Identity, shot: &Shot, x: f32, y: f32) -> Option<[f32; 3]> {
    let in_face = (x / id.face_w).powi(2) + ((y - 0.05) / id.face_h).powi(2) < 1.0;
    let hair_ry = id.face_h + 0.08 + id.hair_top;
    let in_hair_cap = (x / (id.face_w + 0.08)).powi(2) + ((y + 0.02) / hair_ry).powi(2) < 1.0
        && y < id.eye_y - 0.12;
    let in_long_hair = id.long_hair
        && x.abs() < id.face_w + 0.12
        && x.abs() > id.face_w * 0.75
        && y > -0.2
        && y < 0.75;
    if !in_face {
        return (in_hair_cap || in_long_hair).then_some(id.hair);
    }
    if in_hair_cap {
        return Some(id.hair);
    }
    let mut c = id.skin;
    let fx = x - shot.yaw; // features slide sideways when the head turns
    if id.beard && y > id.mouth_y - 0.1 {
        c = mix(c, id.hair, 0.8);
    }
    for side in [-1.0f32, 1.0] {
        let ex = side * id.eye_sep / 2.0 * (1.0 - side * shot.yaw);
        let (dx, dy) = (fx - ex, y - id.eye_y);
        let ry = id.eye_size * 0.6 * shot.eye_open;
        let eye = (dx / id.eye_size).powi(2) + (dy / ry.max(1e-3)).powi(2);
        if eye < 1.0 {
            let r = (dx * dx + dy * dy).sqrt();
            c = if r < id.eye_size * 0.2 {
                [0.05, 0.05, 0.05]
            } else if r < id.eye_size * 0.5 {
                id.iris
            } else {
                [0.95, 0.95, 0.92]
            };
        }
        let by = id.eye_y - id.eye_size * 0.9;
        let a = (ex - side * id.eye_size, by + side * id.brow_tilt);
        let b = (ex + side * id.eye_size * 0.2, by);
        if segment_distance((fx, y), a, b) < id.brow_thick {
            c = mix(id.hair, [0.0; 3], 0.3);
        }
        if id.glasses {
            let r = (dx * dx + dy * dy).sqrt();
            if (r - id.eye_size * 1.45).abs() < 0.014 {
                c = [0.08, 0.08, 0.1];
            }
        }
    }
    let nose_top = (0.0, id.eye_y + 0.06);
    let nose_tip = (shot.yaw * 0.6, id.eye_y + 0.06 + id.nose_len);
    if segment_distance((fx, y), nose_top, nose_tip) < id.nose_w {
        c = mix(c, [0.0; 3], 0.25);
    }
    let half = id.mouth_w / 2.0;
    if fx.abs() < half {
        let t = fx / half;
        let my = id.mouth_y - (id.mouth_curve + shot.smile) * (1.0 - t * t);
        if (y - my).abs() < 0.025 {
            c = [0.55, 0.12, 0.15];
        }
    }
    Some(c)
}

/// Box-Muller: one standard-normal draw.
fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.random_range(1e-7..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

fn render(id: &Identity, shot: &Shot, size: u32, rng: &mut ChaCha8Rng) -> RgbImage {
    let (sin, cos) = shot.angle.sin_cos();
    let samples = [(0.25f32, 0.25f32), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)];
    RgbImage::from_fn(size, size, |px, py| {
        let mut acc = [0f32; 3];
        for (ox, oy) in samples {
            let u = (px as f32 + ox) / size as f32 * 2.0 - 1.0;
            let v = (py as f32 + oy) / size as f32 * 2.0 - 1.0;
            // inverse pose: image coordinates -> canonical face coordinates
            let (tx, ty) = (
                (u - shot.shift.0) / shot.scale,
                (v - shot.shift.1) / shot.scale,
            );
            let (x, y) = (cos * tx + sin * ty, -sin * tx + cos * ty);
            let c = face_color(id, shot, x, y)
                .unwrap_or_else(|| mix(shot.bg_a, shot.bg_b, (v + 1.0) / 2.0));
            let light = shot.ambient
                * (1.0 + shot.light_strength * (shot.light_dir.0 * u + shot.light_dir.1 * v));
            for k in 0..3 {
                acc[k] += c[k] * light / samples.len() as f32;
            }
        }
        let mut out = [0u8; 3];
        for k in 0..3 {
            let v = acc[k] + shot.noise * gaussian(rng);
            out[k] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
        Rgb(out)
    })
}

/// Folder name of person `i` (1-based in the name).
pub fn person_name(i: usize) -> String {
    format!("person_{:02}", i + 1)
}

/// Draw one image of `person`: the same (config, person, index) always gives the
/// same picture.
pub fn demo_face(config: &DemoConfig, person: usize, index: usize) -> RgbImage {
    let mut id_rng = ChaCha8Rng::seed_from_u64(config.seed.wrapping_mul(1_000_003) + person as u64);
    let id = Identity::draw(&mut id_rng);
    let mut shot_rng = ChaCha8Rng::seed_from_u64(
        config.seed ^ ((person as u64) << 32 | index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D),
    );
    let shot = Shot::draw(&mut shot_rng);
    render(&id, &shot, config.size, &mut shot_rng)
}

/// Write the demo dataset under `dir` as one folder of PNGs per person (unsplit,
/// so facebench splits it). Returns the folder written.
pub fn generate_demo_dataset(dir: &Path, config: &DemoConfig) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        config.people >= 2,
        "the demo dataset needs at least 2 people"
    );
    anyhow::ensure!(
        config.images_per_person >= 3,
        "the demo dataset needs at least 3 images per person to split"
    );
    write_classes(dir, config, |p, i| demo_face(config, p, i))
}

/// Write `config.people` folders of `config.images_per_person` PNGs each
/// under `dir`, image `i` of class `c` drawn by `draw(c, i)`.
fn write_classes(
    dir: &Path,
    config: &DemoConfig,
    draw: impl Fn(usize, usize) -> RgbImage + Sync,
) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(config.size >= 16, "demo images must be at least 16 px");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    (0..config.people).into_par_iter().try_for_each(|class| {
        let class_dir = dir.join(person_name(class));
        std::fs::create_dir_all(&class_dir)
            .with_context(|| format!("cannot create {}", class_dir.display()))?;
        for i in 0..config.images_per_person {
            let path = class_dir.join(format!("{:03}.png", i + 1));
            draw(class, i)
                .save(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        anyhow::Ok(())
    })?;
    Ok(dir.to_path_buf())
}

/// A quarter of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quadrant {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

impl Quadrant {
    /// Rows and columns of this quadrant in a `size x size` image.
    pub fn area(self, size: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let half = size / 2;
        let (top, left) = match self {
            Quadrant::TopLeft => (true, true),
            Quadrant::TopRight => (true, false),
            Quadrant::BottomLeft => (false, true),
            Quadrant::BottomRight => (false, false),
        };
        let rows = if top { 0..half } else { half..size };
        let cols = if left { 0..half } else { half..size };
        (rows, cols)
    }
}

/// The mark colours of the marked demo set, one per class (cycled).
const MARK_COLOURS: [[u8; 3]; 8] = [
    [230, 30, 30],
    [30, 200, 30],
    [30, 60, 230],
    [240, 220, 20],
    [220, 30, 220],
    [20, 220, 220],
    [250, 140, 0],
    [250, 250, 250],
];

/// One image of the marked demo set: a face of a person drawn at random
/// from the whole demo set (so the face says nothing about the class), in
/// grey, with the class's mark, a filled square of its colour, at a random
/// place inside `quadrant`. The mark is the only thing that tells the
/// classes apart, and the only colour in the picture.
pub fn marked_face(
    config: &DemoConfig,
    quadrant: Quadrant,
    class: usize,
    index: usize,
) -> RgbImage {
    let mut rng = ChaCha8Rng::seed_from_u64(
        config.seed ^ 0x5EED_0FAA ^ ((class as u64) << 32 | index as u64).wrapping_mul(0x9E37_79B9),
    );
    let someone = rng.random_range(0..config.people.max(2));
    let mut face = demo_face(config, someone, index * 31 + class);
    for pixel in face.pixels_mut() {
        let [r, g, b] = pixel.0.map(u32::from);
        let grey = ((r * 299 + g * 587 + b * 114) / 1000) as u8;
        *pixel = Rgb([grey; 3]);
    }
    let size = config.size as usize;
    let side = (size / 5).max(2);
    // anywhere in the quadrant but its eighth nearest the other quadrants
    let (rows, cols) = quadrant.area(size);
    let place = |range: std::ops::Range<usize>, rng: &mut ChaCha8Rng| {
        let margin = size / 16;
        let (lo, hi) = if range.start == 0 {
            (0, range.end - side - margin)
        } else {
            (range.start + margin, range.end - side)
        };
        rng.random_range(lo..=hi.max(lo))
    };
    let top = place(rows, &mut rng);
    let left = place(cols, &mut rng);
    let colour = MARK_COLOURS[class % MARK_COLOURS.len()];
    for y in top..top + side {
        for x in left..left + side {
            face.put_pixel(x as u32, y as u32, Rgb(colour));
        }
    }
    face
}

/// Write the marked demo set (see [`marked_face`]) under `dir`, one folder of
/// PNGs per class. It tests explanations: a network that learned it must
/// look at `quadrant`.
pub fn generate_marked_dataset(
    dir: &Path,
    config: &DemoConfig,
    quadrant: Quadrant,
) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        config.people >= 2,
        "the marked set needs at least 2 classes"
    );
    write_classes(dir, config, |class, i| {
        marked_face(config, quadrant, class, i)
    })
}
