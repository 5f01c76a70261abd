//! The shape of one 2-D convolution: input, kernel, stride, padding, dilation,
//! groups and the output size they give. Every CPU kernel reads it.

/// One convolution's sizes, NCHW input, `[Cout, Cin / groups, KH, KW]` weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    /// Padding before the first row / column (the end padding only decides
    /// the output size, which is stored).
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeometry {
    /// The geometry of `x` (`[N, C, H, W]`) convolved with `weight`, or None
    /// when the sizes do not make a convolution (burn's own path then reports it).
    pub fn new(
        x: [usize; 4],
        weight: [usize; 4],
        stride: [usize; 2],
        pad_start: [usize; 2],
        pad_end: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Option<Self> {
        let [batch, cin, h, w] = x;
        let [cout, cin_g, kh, kw] = weight;
        if groups == 0
            || cin % groups != 0
            || cout % groups != 0
            || cin / groups != cin_g
            || stride.contains(&0)
            || dilation.contains(&0)
        {
            return None;
        }
        let out = |size: usize, k: usize, axis: usize| {
            let span = dilation[axis] * (k.checked_sub(1)?) + 1;
            let padded = size + pad_start[axis] + pad_end[axis];
            padded.checked_sub(span).map(|room| room / stride[axis] + 1)
        };
        let oh = out(h, kh, 0)?;
        let ow = out(w, kw, 1)?;
        Some(Self {
            batch,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            stride,
            pad: pad_start,
            dilation,
            groups,
            oh,
            ow,
        })
    }

    pub fn cin_per_group(&self) -> usize {
        self.cin / self.groups
    }

    pub fn cout_per_group(&self) -> usize {
        self.cout / self.groups
    }

    /// Rows of the im2col matrix for one group: `Cin/groups * KH * KW`.
    pub fn rows_per_group(&self) -> usize {
        self.cin_per_group() * self.kh * self.kw
    }

    /// Rows of the whole im2col matrix: `Cin * KH * KW`.
    pub fn rows(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    pub fn out_plane(&self) -> usize {
        self.oh * self.ow
    }

    pub fn in_plane(&self) -> usize {
        self.h * self.w
    }

    /// Columns of the im2col matrix: every output position of every image.
    pub fn columns(&self) -> usize {
        self.batch * self.out_plane()
    }

    /// One filter per channel (Xception's separable convolutions).
    pub fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.groups == self.cin && self.cout == self.cin
    }

    pub fn x_len(&self) -> usize {
        self.batch * self.cin * self.in_plane()
    }

    pub fn y_len(&self) -> usize {
        self.batch * self.cout * self.out_plane()
    }

    pub fn weight_len(&self) -> usize {
        self.cout * self.rows_per_group()
    }

    /// Output rows `oh` whose input row `oh * stride - pad + ki * dilation`
    /// lies inside the image, as a half-open range.
    pub fn valid_rows(&self, ki: usize) -> (usize, usize) {
        valid_range(
            self.oh,
            self.h,
            self.stride[0],
            self.pad[0],
            ki * self.dilation[0],
        )
    }

    /// Output columns whose input column lies inside the image.
    pub fn valid_cols(&self, kj: usize) -> (usize, usize) {
        valid_range(
            self.ow,
            self.w,
            self.stride[1],
            self.pad[1],
            kj * self.dilation[1],
        )
    }
}

/// The outputs `o` in `0..out` with `0 <= o * stride + offset - pad < size`.
fn valid_range(
    out: usize,
    size: usize,
    stride: usize,
    pad: usize,
    offset: usize,
) -> (usize, usize) {
    let lo = if pad > offset {
        (pad - offset).div_ceil(stride)
    } else {
        0
    };
    let hi = if size + pad > offset {
        ((size + pad - offset - 1) / stride + 1).min(out)
    } else {
        0
    };
    (lo.min(hi), hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(out: usize, size: usize, stride: usize, pad: usize, offset: usize) -> (usize, usize) {
        let ok: Vec<usize> = (0..out)
            .filter(|&o| {
                let i = (o * stride + offset) as isize - pad as isize;
                i >= 0 && (i as usize) < size
            })
            .collect();
        match (ok.first(), ok.last()) {
            (Some(&a), Some(&b)) => (a, b + 1),
            _ => (0, 0),
        }
    }

    #[test]
    fn valid_range_matches_brute_force() {
        for size in 1..9 {
            for stride in 1..4 {
                for pad in 0..4 {
                    for offset in 0..7 {
                        for out in 0..12 {
                            let (lo, hi) = valid_range(out, size, stride, pad, offset);
                            let (blo, bhi) = brute(out, size, stride, pad, offset);
                            if bhi > blo {
                                assert_eq!(
                                    (lo, hi),
                                    (blo, bhi),
                                    "{size} {stride} {pad} {offset} {out}"
                                );
                            } else {
                                assert!(lo >= hi, "{size} {stride} {pad} {offset} {out}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn output_size_follows_the_convolution_formula() {
        // (x, weight, stride, pad start, pad end, groups): ResNet's stem, a
        // depthwise 3x3, and a kernel larger than the padded input
        let stem = ([2, 3, 224, 224], [64, 3, 7, 7], [2, 2], [3, 3], [3, 3], 1);
        let depthwise = ([1, 8, 5, 5], [8, 1, 3, 3], [1, 1], [0, 0], [1, 1], 8);
        let too_big = ([1, 3, 2, 2], [4, 3, 3, 3], [1, 1], [0, 0], [0, 0], 1);
        let new = |(x, w, s, p0, p1, groups)| ConvGeometry::new(x, w, s, p0, p1, [1, 1], groups);
        let g = new(stem).unwrap();
        assert_eq!((g.oh, g.ow), (112, 112));
        let g = new(depthwise).unwrap();
        assert_eq!((g.oh, g.ow), (4, 4));
        assert!(g.is_depthwise());
        assert!(new(too_big).is_none());
    }
}
