## Winograd F(2x2, 3x3) convolution (Lavin and Gray, 2015): a 3x3, stride-1 convolution as
## 16 products over 4x4 input tiles that overlap by two, each tile giving a 2x2 output
## block: 16 multiplies where direct convolution makes 36. ops/winograd.py runs the three
## kernels around one batched GEMM (M[xi] = U[xi] @ V[xi], xi = 4 r + q):
##   weights  U (16, O, C) = G g G^T per (o, c), g = w[o, c] (O, C, 3, 3), contiguous; with
##            ct_flip, g[i][j] = w[c, o, 2 - i, 2 - j] of w (C, O, 3, 3): the input gradient's
##            weights (the transposed convolution of g by the flipped kernel)
##   input    V (16, C, T) = B^T d B per (c, tile), d the tile's 4x4 input from (2 ty - PH,
##            2 tx - PW), zero outside the image; tiles t = (n TH + ty) TW + tx
##   output   y (N, O, OH, OW), contiguous = A^T m A per (o, tile) (+ bias[o] with ct_bias),
##            m = M[., o, t] (compute type); the 2x2 block clipped to the output
## G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1], B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
## A^T = [1 1 1 0; 0 1 -1 -1]: their rows written out below (adds, subtracts and halves).
<%namespace file="_prelude.mako" import="prelude, load, store"/>
<%
    T = dialect.ctype(dtype.compute)
    S = dialect.ctype(dtype)
    idx = index
    R4 = range(4)
%>
${prelude(dtype.name == "float64")}

% if direction == "weights":
KERNEL void ${name}(GLOBAL ${T}* ct_u, GLOBAL const ${S}* ct_w, const ${idx} ct_off,
    const ${idx} ct_O, const ${idx} ct_C, const int ct_flip)
{
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_O * ct_C; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_o = ct_i / ct_C, ct_c = ct_i % ct_C;
        const ${idx} ct_at = ct_off + (ct_flip ? ct_c * ct_O + ct_o : ct_o * ct_C + ct_c) * 9;
% for i in range(3):
% for j in range(3):
        const ${T} g${i}${j} = ${load(dtype, "ct_w", "ct_at + (ct_flip ? %d : %d)" % (8 - 3 * i - j, 3 * i + j), T)};
% endfor
% endfor
        ## G g: four rows of three
% for j in range(3):
        const ${T} t0${j} = g0${j}, t1${j} = (${T})0.5 * (g0${j} + g1${j} + g2${j});
        const ${T} t2${j} = (${T})0.5 * (g0${j} - g1${j} + g2${j}), t3${j} = g2${j};
% endfor
        ## (G g) G^T: each row's four
% for r in R4:
        ct_u[(${4 * r} * ct_O + ct_o) * ct_C + ct_c] = t${r}0;
        ct_u[(${4 * r + 1} * ct_O + ct_o) * ct_C + ct_c] = (${T})0.5 * (t${r}0 + t${r}1 + t${r}2);
        ct_u[(${4 * r + 2} * ct_O + ct_o) * ct_C + ct_c] = (${T})0.5 * (t${r}0 - t${r}1 + t${r}2);
        ct_u[(${4 * r + 3} * ct_O + ct_o) * ct_C + ct_c] = t${r}2;
% endfor
    }
}
% elif direction == "input":
KERNEL void ${name}(GLOBAL ${T}* ct_v, GLOBAL const ${S}* ct_x, const ${idx} ct_off,
    const ${idx} ct_sn, const ${idx} ct_sc, const ${idx} ct_sh, const ${idx} ct_sw,
    const ${idx} ct_N, const ${idx} ct_C, const ${idx} ct_H, const ${idx} ct_W,
    const ${idx} ct_PH, const ${idx} ct_PW, const ${idx} ct_TH, const ${idx} ct_TW)
{
    const ${idx} ct_T = ct_N * ct_TH * ct_TW;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_C * ct_T; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_c = ct_i / ct_T, ct_t = ct_i % ct_T;
        const ${idx} ct_tx = ct_t % ct_TW, ct_ty = ct_t / ct_TW % ct_TH, ct_n = ct_t / (ct_TW * ct_TH);
        const ${idx} ct_y0 = 2 * ct_ty - ct_PH, ct_x0 = 2 * ct_tx - ct_PW;
        const ${idx} ct_base = ct_off + ct_n * ct_sn + ct_c * ct_sc;
% for r in R4:
% for q in R4:
        const ${T} d${r}${q} = ct_y0 + ${r} >= 0 && ct_y0 + ${r} < ct_H && ct_x0 + ${q} >= 0 && ct_x0 + ${q} < ct_W ?
            ${load(dtype, "ct_x", "ct_base + (ct_y0 + %d) * ct_sh + (ct_x0 + %d) * ct_sw" % (r, q), T)} : (${T})0;
% endfor
% endfor
        ## B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3
% for q in R4:
        const ${T} t0${q} = d0${q} - d2${q}, t1${q} = d1${q} + d2${q};
        const ${T} t2${q} = d2${q} - d1${q}, t3${q} = d1${q} - d3${q};
% endfor
        ## (B^T d) B: the same on each row's columns
% for r in R4:
        ct_v[(${4 * r} * ct_C + ct_c) * ct_T + ct_t] = t${r}0 - t${r}2;
        ct_v[(${4 * r + 1} * ct_C + ct_c) * ct_T + ct_t] = t${r}1 + t${r}2;
        ct_v[(${4 * r + 2} * ct_C + ct_c) * ct_T + ct_t] = t${r}2 - t${r}1;
        ct_v[(${4 * r + 3} * ct_C + ct_c) * ct_T + ct_t] = t${r}1 - t${r}3;
% endfor
    }
}
% else:
KERNEL void ${name}(GLOBAL ${S}* ct_y, GLOBAL const ${T}* ct_m, GLOBAL const ${S}* ct_b,
    const ${idx} ct_b_off, const ${idx} ct_b_stride, const int ct_bias,
    const ${idx} ct_N, const ${idx} ct_O, const ${idx} ct_OH, const ${idx} ct_OW,
    const ${idx} ct_TH, const ${idx} ct_TW)
{
    const ${idx} ct_T = ct_N * ct_TH * ct_TW;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_O * ct_T; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_o = ct_i / ct_T, ct_t = ct_i % ct_T;
        const ${idx} ct_tx = ct_t % ct_TW, ct_ty = ct_t / ct_TW % ct_TH, ct_n = ct_t / (ct_TW * ct_TH);
% for r in R4:
% for q in R4:
        const ${T} m${r}${q} = ct_m[(${4 * r + q} * ct_O + ct_o) * ct_T + ct_t];
% endfor
% endfor
        const ${T} ct_add = ct_bias ? ${load(dtype, "ct_b", "ct_b_off + ct_o * ct_b_stride", T)} : (${T})0;
        ## A^T m: rows m0 + m1 + m2, m1 - m2 - m3
% for q in R4:
        const ${T} t0${q} = m0${q} + m1${q} + m2${q}, t1${q} = m1${q} - m2${q} - m3${q};
% endfor
        const ${idx} ct_oy = 2 * ct_ty, ct_ox = 2 * ct_tx;
        const ${idx} ct_at = ((ct_n * ct_O + ct_o) * ct_OH + ct_oy) * ct_OW + ct_ox;
% for a in range(2):
        if (ct_oy + ${a} < ct_OH) {
            ${store(dtype, "ct_y", "ct_at + %d * ct_OW" % a, "t%d0 + t%d1 + t%d2 + ct_add" % (a, a, a))};
            if (ct_ox + 1 < ct_OW)
                ${store(dtype, "ct_y", "ct_at + %d * ct_OW + 1" % a, "t%d1 - t%d2 - t%d3 + ct_add" % (a, a, a))};
        }
% endfor
    }
}
% endif
