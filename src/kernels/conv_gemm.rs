//! Convolution forward and backward as matrix products over the whole batch
//! (one gemm per group), for dense and grouped convolutions.
//!
//! With `col = im2col(x)` (`[Cin*KH*KW, N*OH*OW]`) and `dy` in channel-major
//! order (`[Cout, N*OH*OW]`), per group:
//!
//! - forward: `y = W @ col`
//! - weight gradient: `dW = dy @ colᵀ` (the reduction runs over the whole batch's
//!   positions, so the product is well shaped even for small feature maps)
//! - input gradient: `dx = col2im(Wᵀ @ dy)`
//! - bias gradient: the row sums of `dy`
//!
//! burn's generic backward instead runs a convolution with batch and channels
//! swapped (skinny matrices) and, for groups, one convolution per group.

use rayon::prelude::*;

use super::geometry::ConvGeometry;
use super::layout::{col2im, from_channel_major, im2col, to_channel_major};

/// `dst[m x n] = lhs[m x k] @ rhs[k x n]`, each operand given by its element
/// strides (row, column). Runs on rayon's pool when the product is large.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    // every index the product touches lies inside the slices
    let last = |rows: usize, cols: usize, (rs, cs): (usize, usize)| {
        (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs
    };
    assert!(last(m, n, (dst_rs, 1)) < dst.len(), "matmul: dst too small");
    if k > 0 {
        assert!(last(m, k, lhs_strides) < lhs.len(), "matmul: lhs too small");
        assert!(last(k, n, rhs_strides) < rhs.len(), "matmul: rhs too small");
    }
    let parallelism = if m * n * k >= 64 * 64 * 64 && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every strided access of the three
    // operands inside their slices; dst does not alias lhs or rhs (&mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            false,
            lhs.as_ptr(),
            lhs_strides.1 as isize,
            lhs_strides.0 as isize,
            rhs.as_ptr(),
            rhs_strides.1 as isize,
            rhs_strides.0 as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `y` (NCHW) of the convolution of `x` (NCHW) with `weight`, plus `bias`.
pub fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &ConvGeometry) -> Vec<f32> {
    let (rows, cols) = (g.rows(), g.columns());
    let mut col = vec![0.0f32; rows * cols];
    im2col(x, g, &mut col);
    let mut y_cm = vec![0.0f32; g.cout * cols];
    let (kg, cog) = (g.rows_per_group(), g.cout_per_group());
    for group in 0..g.groups {
        matmul(
            cog,
            cols,
            kg,
            &mut y_cm[group * cog * cols..],
            cols,
            &weight[group * cog * kg..],
            (kg, 1),
            &col[group * kg * cols..],
            (cols, 1),
        );
    }
    drop(col);
    from_channel_major(&y_cm, g.batch, g.cout, g.out_plane(), bias)
}

/// The gradients a backward pass asked for.
#[derive(Default)]
pub struct ConvGrads {
    pub x: Option<Vec<f32>>,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}

/// Which gradients to compute.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub x: bool,
    pub weight: bool,
    pub bias: bool,
}

/// Gradients of the convolution's inputs from `dy` (NCHW).
pub fn backward(x: &[f32], weight: &[f32], dy: &[f32], g: &ConvGeometry, want: Wanted) -> ConvGrads {
    let (rows, cols) = (g.rows(), g.columns());
    let (kg, cog) = (g.rows_per_group(), g.cout_per_group());
    let dy_cm = to_channel_major(dy, g.batch, g.cout, g.out_plane());
    let mut out = ConvGrads::default();
    if want.bias {
        out.bias = Some(dy_cm.par_chunks(cols).map(|r| r.iter().sum()).collect());
    }
    // one buffer serves as col (weight gradient) and then as dcol (input gradient)
    let mut buf = Vec::new();
    if want.weight {
        buf = vec![0.0f32; rows * cols];
        im2col(x, g, &mut buf);
        let mut dw = vec![0.0f32; g.weight_len()];
        for group in 0..g.groups {
            matmul(
                cog,
                kg,
                cols,
                &mut dw[group * cog * kg..],
                kg,
                &dy_cm[group * cog * cols..],
                (cols, 1),
                &buf[group * kg * cols..],
                (1, cols),
            );
        }
        out.weight = Some(dw);
    }
    if want.x {
        if buf.len() != rows * cols {
            buf = vec![0.0f32; rows * cols];
        }
        for group in 0..g.groups {
            matmul(
                kg,
                cols,
                cog,
                &mut buf[group * kg * cols..],
                cols,
                &weight[group * cog * kg..],
                (1, kg),
                &dy_cm[group * cog * cols..],
                (cols, 1),
            );
        }
        let mut dx = vec![0.0f32; g.x_len()];
        col2im(&buf, g, &mut dx);
        out.x = Some(dx);
    }
    out
}
