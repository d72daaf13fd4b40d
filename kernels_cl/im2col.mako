## Sliding windows over images, the core of convolution and pooling (and F.unfold/F.fold).
##   unfold: x (N, C, H, W), strided -> cols (N, C*KH*KW, OH*OW), contiguous; a window
##           position outside the image reads ct_pad (0 for convolutions, -inf for max pools)
##   fold:   cols (N, C*KH*KW, OH*OW), contiguous -> image (N, C, H, W), contiguous; each pixel
##           sums the window positions that land on it (a gather: deterministic, no atomics)
##   rows    (CPU devices) unfold: one item per output row (n, c, ki, kj, oy): its OW values
##           written in order, the index arithmetic done once a row (the item-per-value form
##           spent PoCL 166 ms on a 3x3 unfold of 16 x 64 x 56 x 56 in its six divisions)
##   pack    (CPU devices) a convolution's GEMM operand read straight from the image, in
##           gemm.mako's packed layout: panels of `panel` rows, k-major, compute type, zeros
##           past the last row and outside the image (implicit GEMM: no column matrix)
##             positions: rows are output positions (oy, ox), k the taps (c, ki, kj), one
##                        panel set per image (the forward's B)
##             taps:      rows are taps, k the (image, position) pairs of the whole batch (the
##                        weight gradient's B: one product over the batch)
##   window_max max pooling without columns: an item per output (GPUs; an item per output row
##           with `rows`, CPU devices, see max_rows), its window's maximum
##           and (when ct_want_pos) where in the plane its first maximum lies (the last NaN
##           counting as the maximum; a window of -inf reports its first element inside the
##           image), as PyTorch's max-pool indices
##   adaptive (window_max, window_mean, window_mean_grad; any device) adaptive pooling's cells
##           instead of regular windows: the kernel geometry is ignored, the cells follow from
##           H, W, OH and OW
##   window_max_grad (devices) max pooling's input gradient where windows are disjoint: an
##           item per input position, gathering its window's gradient where that window's
##           maximum lies (max_grad_kernel)
##   window_mean (devices) average pooling without columns: an item per window, the sum of its
##           in-image elements over PyTorch's divisor (ct_override if not 0, else the window
##           clipped to the padded image with ct_include_pad, to the image without)
##   window_mean_grad (devices) its gradient: an item per input position, gathering g / divisor
##           of each window that holds it (no atomics); both by rows on CPU devices (mean_rows)
## Geometry arguments (same order in all): N C H W KH KW SH SW PH PW DH DW OH OW.
<%namespace file="_prelude.mako" import="prelude, load, store, clipped_run, each_item"/>
<%namespace file="_epilogue.mako" import="params, element"/>
<%
    T = dialect.ctype(dtype.compute)
    idx = index
    geometry = "N C H W KH KW SH SW PH PW DH DW OH OW".split()
%>
${prelude(dtype.name == "float64")}

% if direction == "unfold":
KERNEL void ${name}(GLOBAL ${dialect.ctype(dtype)}* ct_out, GLOBAL const ${dialect.ctype(dtype)}* ct_in,
    const ${idx} ct_off, const ${idx} ct_sn, const ${idx} ct_sc, const ${idx} ct_sh,
    const ${idx} ct_sw, const ${T} ct_pad
% for g in geometry:
    , const ${idx} ct_${g}
% endfor
    )
{
% if rows:
    const ${idx} ct_total = ct_N * ct_C * ct_KH * ct_KW * ct_OH;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        ${idx} ct_r = ct_i;
% else:
    const ${idx} ct_total = ct_N * ct_C * ct_KH * ct_KW * ct_OH * ct_OW;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        ${idx} ct_r = ct_i;
        const ${idx} ct_ox = ct_r % ct_OW; ct_r /= ct_OW;
% endif
        const ${idx} ct_oy = ct_r % ct_OH; ct_r /= ct_OH;
        const ${idx} ct_kj = ct_r % ct_KW; ct_r /= ct_KW;
        const ${idx} ct_ki = ct_r % ct_KH; ct_r /= ct_KH;
        const ${idx} ct_c = ct_r % ct_C;
        const ${idx} ct_n = ct_r / ct_C;
        const ${idx} ct_y = ct_oy * ct_SH - ct_PH + ct_ki * ct_DH;
% if rows:
        const ${idx} ct_line = ct_off + ct_n * ct_sn + ct_c * ct_sc + ct_y * ct_sh;
        const int ct_inside = ct_y >= 0 && ct_y < ct_H;
        for (${idx} ct_ox = 0; ct_ox < ct_OW; ct_ox++) {
            const ${idx} ct_x = ct_ox * ct_SW - ct_PW + ct_kj * ct_DW;
            ${T} v = ct_pad;
            if (ct_inside && ct_x >= 0 && ct_x < ct_W)
                v = ${load(dtype, "ct_in", "ct_line + ct_x * ct_sw", T)};
            ${store(dtype, "ct_out", "ct_i * ct_OW + ct_ox", "v")};
        }
% else:
        const ${idx} ct_x = ct_ox * ct_SW - ct_PW + ct_kj * ct_DW;
        ${T} v = ct_pad;
        if (ct_y >= 0 && ct_y < ct_H && ct_x >= 0 && ct_x < ct_W)
            v = ${load(dtype, "ct_in", "ct_off + ct_n * ct_sn + ct_c * ct_sc + ct_y * ct_sh + ct_x * ct_sw", T)};
        ${store(dtype, "ct_out", "ct_i", "v")};
% endif
    }
}
% elif direction == "pack":
${pack_kernel()}
% elif direction == "window_max":
${max_kernel()}
% elif direction == "window_max_grad":
${max_grad_kernel()}
% elif direction in ("window_mean", "window_mean_grad"):
${mean_kernel()}
% else:
KERNEL void ${name}(GLOBAL ${dialect.ctype(dtype)}* ct_out, GLOBAL const ${dialect.ctype(dtype)}* ct_in
% for g in geometry:
    , const ${idx} ct_${g}
% endfor
    )
{
% if rows:
    ## CPU devices (dtype == its compute type): an item per (n, c) plane, zeroed, then each
    ## window tap's column rows added into it in (ki, kj) order: each pixel sums the same
    ## values in the same order as the gather below, without its divisions (PoCL spent 80 ms
    ## in them folding 16 x 64 x 56^2 from 3x3 windows)
    const ${idx} ct_L = ct_OH * ct_OW, ct_HW = ct_H * ct_W;
    for (${idx} ct_g = (${idx})GID(0); ct_g < ct_N * ct_C; ct_g += (${idx})GLOBAL_SIZE(0)) {
        GLOBAL ${T}* ct_plane = ct_out + ct_g * ct_HW;
        for (${idx} ct_i = 0; ct_i < ct_HW; ct_i++) ct_plane[ct_i] = 0;
        for (${idx} ct_ki = 0; ct_ki < ct_KH; ++ct_ki) {
            for (${idx} ct_kj = 0; ct_kj < ct_KW; ++ct_kj) {
                GLOBAL const ${T}* ct_src = ct_in + (ct_g * ct_KH * ct_KW + ct_ki * ct_KW + ct_kj) * ct_L;
                for (${idx} ct_oy = 0; ct_oy < ct_OH; ct_oy++) {
                    const ${idx} ct_y = ct_oy * ct_SH - ct_PH + ct_ki * ct_DH;
                    if (ct_y < 0 || ct_y >= ct_H) continue;
                    for (${idx} ct_ox = 0; ct_ox < ct_OW; ct_ox++) {
                        const ${idx} ct_x = ct_ox * ct_SW - ct_PW + ct_kj * ct_DW;
                        if (ct_x >= 0 && ct_x < ct_W) ct_plane[ct_y * ct_W + ct_x] += ct_src[ct_oy * ct_OW + ct_ox];
                    }
                }
            }
        }
    }
% else:
    const ${idx} ct_total = ct_N * ct_C * ct_H * ct_W;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        ${idx} ct_r = ct_i;
        const ${idx} ct_x = ct_r % ct_W; ct_r /= ct_W;
        const ${idx} ct_y = ct_r % ct_H; ct_r /= ct_H;
        const ${idx} ct_c = ct_r % ct_C;
        const ${idx} ct_n = ct_r / ct_C;
        ${T} ct_acc = 0;
        for (${idx} ct_ki = 0; ct_ki < ct_KH; ++ct_ki) {
            const ${idx} ct_ty = ct_y + ct_PH - ct_ki * ct_DH;
            if (ct_ty < 0 || ct_ty % ct_SH != 0 || ct_ty / ct_SH >= ct_OH) continue;
            for (${idx} ct_kj = 0; ct_kj < ct_KW; ++ct_kj) {
                const ${idx} ct_tx = ct_x + ct_PW - ct_kj * ct_DW;
                if (ct_tx < 0 || ct_tx % ct_SW != 0 || ct_tx / ct_SW >= ct_OW) continue;
                const ${idx} ct_row = (ct_c * ct_KH + ct_ki) * ct_KW + ct_kj;
                ct_acc += ${load(dtype, "ct_in", "(ct_n * ct_C * ct_KH * ct_KW + ct_row) * ct_OH * ct_OW + (ct_ty / ct_SH) * ct_OW + ct_tx / ct_SW", T)};
            }
        }
        ${store(dtype, "ct_out", "ct_i", "ct_acc")};
    }
% endif
}
% endif

<%def name="pack_kernel()">
<% R, CH = panel, 64 %>\
## An item per (set, panel, run of ${CH} k values). Each of its ${R} rows' share of the image
## coordinates (y, x and an offset) is found once; each k adds its own share: no division or
## wrap in the inner loop (93 ms for a 3x3 pack of 16 x 64 x 56^2 on PoCL with an item per
## (panel, k) value and per-value coordinates, 70 with runs, 20 so).
KERNEL void ${name}(GLOBAL ${T}* ct_out, GLOBAL const ${dialect.ctype(dtype)}* ct_in,
    const ${idx} ct_off, const ${idx} ct_sn, const ${idx} ct_sc, const ${idx} ct_sh,
    const ${idx} ct_sw
% for g in geometry:
    , const ${idx} ct_${g}
% endfor
    )
{
    const ${idx} ct_L = ct_OH * ct_OW, ct_taps = ct_C * ct_KH * ct_KW;
% if rows_are == "positions":
    const ${idx} ct_rows = ct_L, ct_k = ct_taps, ct_sets = ct_N;
% else:
    const ${idx} ct_rows = ct_taps, ct_k = ct_N * ct_L, ct_sets = 1;
% endif
    const ${idx} ct_panels = (ct_rows + ${R - 1}) / ${R}, ct_runs = (ct_k + ${CH - 1}) / ${CH};
    for (${idx} ct_g = (${idx})GID(0); ct_g < ct_sets * ct_panels * ct_runs; ct_g += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_k0 = ct_g % ct_runs * ${CH};
        const ${idx} ct_k1 = ct_k0 + ${CH} < ct_k ? ct_k0 + ${CH} : ct_k;
        const ${idx} ct_panel = ct_g / ct_runs;  // (set, panel)
        const ${idx} ct_row0 = ct_panel % ct_panels * ${R};
        GLOBAL ${T}* ct_dst = ct_out + (ct_panel * ct_k + ct_k0) * ${R};
        ${idx} ct_ry[${R}], ct_rx[${R}], ct_ro[${R}];  // each row's y, x and offset shares
% if rows_are == "taps":
        ${idx} ct_rat[${R}];  // each tap's offset from its window's corner
% endif
        for (int ct_j = 0; ct_j < ${R}; ct_j++) {
            const ${idx} ct_row = ct_row0 + ct_j;
% if rows_are == "positions":
            ct_ry[ct_j] = ct_row / ct_OW * ct_SH - ct_PH;
            ct_rx[ct_j] = ct_row % ct_OW * ct_SW - ct_PW;
            ct_ro[ct_j] = ct_panel / ct_panels * ct_sn;
% else:
            ct_ry[ct_j] = ct_row / ct_KW % ct_KH * ct_DH;
            ct_rx[ct_j] = ct_row % ct_KW * ct_DW;
            ct_ro[ct_j] = ct_row / (ct_KH * ct_KW) * ct_sc;
            ct_rat[ct_j] = ct_ro[ct_j] + ct_ry[ct_j] * ct_sh + ct_rx[ct_j] * ct_sw;
% endif
            ## a row past the last: a y below any image, so zeros
            if (ct_row >= ct_rows) ct_ry[ct_j] = -(1 << 28);
        }
% if rows_are == "positions":
        ## all rows real, in one output row, stepping one image column each (stride 1)
        const int ct_run = ct_sw == 1 && ct_SW == 1 && ct_row0 + ${R} <= ct_rows &&
            ct_row0 % ct_OW + ${R} <= ct_OW;
% else:
        const int ct_full = ct_row0 + ${R} <= ct_rows;  // all rows real
% endif
        for (${idx} ct_kk = ct_k0; ct_kk < ct_k1; ct_kk++, ct_dst += ${R}) {
% if rows_are == "positions":
            const ${idx} ct_ky = ct_kk / ct_KW % ct_KH * ct_DH, ct_kx = ct_kk % ct_KW * ct_DW;
            const ${idx} ct_ko = ct_off + ct_kk / (ct_KH * ct_KW) * ct_sc;
% else:
            const ${idx} ct_ky = ct_kk % ct_L / ct_OW * ct_SH - ct_PH, ct_kx = ct_kk % ct_OW * ct_SW - ct_PW;
            const ${idx} ct_ko = ct_off + ct_kk / ct_L * ct_sn;
% endif
% if rows_are == "positions":
            ## the rows along one output row, reading a run of the image row inside it: a copy
            const ${idx} ct_y0 = ct_ry[0] + ct_ky, ct_x0 = ct_rx[0] + ct_kx;
            if (ct_run && ct_y0 >= 0 && ct_y0 < ct_H && ct_x0 >= 0 && ct_x0 + ${R} <= ct_W) {
                GLOBAL const ${dialect.ctype(dtype)}* ct_src = ct_in + ct_ko + ct_ro[0] + ct_y0 * ct_sh + ct_x0;
                for (int ct_j = 0; ct_j < ${R}; ct_j++) ct_dst[ct_j] = ${load(dtype, "ct_src", "ct_j", T)};
                continue;
            }
% else:
            ## a position whose whole window is inside the image: every tap's offset is fixed
            if (ct_full && ct_ky >= 0 && ct_ky + (ct_KH - 1) * ct_DH < ct_H && ct_kx >= 0 &&
                    ct_kx + (ct_KW - 1) * ct_DW < ct_W) {
                const ${idx} ct_at = ct_ko + ct_ky * ct_sh + ct_kx * ct_sw;
                for (int ct_j = 0; ct_j < ${R}; ct_j++) ct_dst[ct_j] = ${load(dtype, "ct_in", "ct_at + ct_rat[ct_j]", T)};
                continue;
            }
% endif
            for (int ct_j = 0; ct_j < ${R}; ct_j++) {
                const ${idx} ct_y = ct_ry[ct_j] + ct_ky, ct_x = ct_rx[ct_j] + ct_kx;
                ct_dst[ct_j] = ct_y >= 0 && ct_y < ct_H && ct_x >= 0 && ct_x < ct_W ?
                    ${load(dtype, "ct_in", "ct_ko + ct_ro[ct_j] + ct_y * ct_sh + ct_x * ct_sw", T)} : (${T})0;
            }
        }
    }
}
</%def>

<%def name="max_kernel()">
KERNEL void ${name}(GLOBAL ${dialect.ctype(dtype)}* ct_out, GLOBAL ${dialect.int64}* ct_pos,
    GLOBAL const ${dialect.ctype(dtype)}* ct_in, const ${idx} ct_off, const ${idx} ct_sn,
    const ${idx} ct_sc, const ${idx} ct_sh, const ${idx} ct_sw, const int ct_want_pos
% for g in geometry:
    , const ${idx} ct_${g}
% endfor
    )
{
% if rows:
${max_rows()}
% else:
    const ${idx} ct_total = ct_N * ct_C * ct_OH * ct_OW;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_ox = ct_i % ct_OW, ct_oy = ct_i / ct_OW % ct_OH;
        const ${idx} ct_c = ct_i / (ct_OW * ct_OH) % ct_C, ct_n = ct_i / (ct_OW * ct_OH * ct_C);
        const ${idx} ct_base = ct_off + ct_n * ct_sn + ct_c * ct_sc;
        ${T} ct_best = 0;
        ${dialect.int64} ct_at = -1;
% if adaptive:
${adaptive_cell("ct_oy", "ct_ox")}
        const ${idx} ct_y0 = ct_hs, ct_x0 = ct_ws, ct_ny = ct_he - ct_hs, ct_nx = ct_we - ct_ws;
        const ${idx} ct_dy = 1, ct_dx = 1;
% else:
        const ${idx} ct_y0 = ct_oy * ct_SH - ct_PH, ct_x0 = ct_ox * ct_SW - ct_PW;
        const ${idx} ct_ny = ct_KH, ct_nx = ct_KW, ct_dy = ct_DH, ct_dx = ct_DW;
% endif
        for (${idx} ct_ki = 0; ct_ki < ct_ny; ct_ki++) {
            const ${idx} ct_y = ct_y0 + ct_ki * ct_dy;
            if (ct_y < 0 || ct_y >= ct_H) continue;
            for (${idx} ct_kj = 0; ct_kj < ct_nx; ct_kj++) {
                const ${idx} ct_x = ct_x0 + ct_kj * ct_dx;
                if (ct_x < 0 || ct_x >= ct_W) continue;
                const ${T} v = ${load(dtype, "ct_in", "ct_base + ct_y * ct_sh + ct_x * ct_sw", T)};
                ## PyTorch's rule: the first of equal maxima, the last NaN
                if (ct_at < 0 || v > ct_best || v != v) {
                    ct_best = v;
                    ct_at = (${dialect.int64})ct_y * ct_W + ct_x;
                }
            }
        }
        ${store(dtype, "ct_out", "ct_i", "ct_best")};
        if (ct_want_pos) ct_pos[ct_i] = ct_at;
    }
% endif
}
</%def>

## Max pooling's input gradient where no two windows share a position (Windows.disjoint): an
## item per input position, the gradient of the one window that may hold it where that
## window's maximum lies there, else 0. Every position is written once: no zero fill and no
## scatter. g (the (N, OH*OW) output gradient) at ct_goff with strides ct_gs0, ct_gs1. With
## an `epilogue` (ops/fused.Epilogue; cltorch.compile's fusion) the gradient is not stored: the
## chain that alone reads it (ReLU's backward) runs on each element instead.
<%def name="max_grad_kernel()">
KERNEL void ${name}(GLOBAL ${dialect.ctype(dtype)}* ct_grad, GLOBAL const ${dialect.ctype(dtype)}* ct_g,
    const ${idx} ct_goff, const ${idx} ct_gs0, const ${idx} ct_gs1,
    GLOBAL const ${dialect.int64}* ct_pos
% for g in geometry:
    , const ${idx} ct_${g}
% endfor
% if epilogue is not None:
${params(epilogue, idx)}
% endif
    )
{
<%call expr="each_item(idx, 'ct_i', 'ct_N * ct_H * ct_W')">
        const ${idx} ct_x = ct_i % ct_W, ct_y = ct_i / ct_W % ct_H, ct_p = ct_i / (ct_W * ct_H);
        const ${idx} ct_oy = (ct_y + ct_PH) / ct_SH, ct_ox = (ct_x + ct_PW) / ct_SW;
        const ${idx} ct_ry = ct_y + ct_PH - ct_oy * ct_SH, ct_rx = ct_x + ct_PW - ct_ox * ct_SW;
        ${T} ct_v = 0;
        if (ct_oy < ct_OH && ct_ox < ct_OW && ct_ry % ct_DH == 0 && ct_rx % ct_DW == 0 &&
                ct_ry / ct_DH < ct_KH && ct_rx / ct_DW < ct_KW) {
            const ${idx} ct_o = ct_oy * ct_OW + ct_ox;
            if (ct_pos[ct_p * ct_OH * ct_OW + ct_o] == (${dialect.int64})(ct_y * ct_W + ct_x))
                ct_v = ${load(dtype, "ct_g", "ct_goff + ct_p * ct_gs0 + ct_o * ct_gs1", T)};
        }
% if epilogue is None:
        ${store(dtype, "ct_grad", "ct_i", "ct_v")};
% else:
${element(epilogue, idx, "ct_i", "ct_v")}
% endif
</%call>
}
</%def>

## CPU devices, regular windows: an item per output row (n, c, oy), its maxima (and their
## positions) kept in the output row while each window tap sweeps its run of the row, clipped
## to the image. For each output the taps come in the window's row-major order, so PyTorch's
## rule holds (the first of equal maxima, the last NaN); each output starts from its window's
## first in-image element (so a window of -inf reports it, and any dtype works).
<%def name="max_rows()">
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_N * ct_C * ct_OH; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_oy = ct_i % ct_OH, ct_plane = ct_i / ct_OH;
        const ${idx} ct_base = ct_off + ct_plane / ct_C * ct_sn + ct_plane % ct_C * ct_sc;
        const ${idx} ct_row = ct_i * ct_OW, ct_y0 = ct_oy * ct_SH - ct_PH;
        ## the window's first in-image row and, per output, column
        const ${idx} ct_first_y = ct_y0 >= 0 ? ct_y0 : ct_y0 + (-ct_y0 + ct_DH - 1) / ct_DH * ct_DH;
        for (${idx} ct_ox = 0; ct_ox < ct_OW; ct_ox++) {
            const ${idx} ct_x0 = ct_ox * ct_SW - ct_PW;
            const ${idx} ct_first_x = ct_x0 >= 0 ? ct_x0 : ct_x0 + (-ct_x0 + ct_DW - 1) / ct_DW * ct_DW;
            const ${T} ct_first = ${load(dtype, "ct_in", "ct_base + ct_first_y * ct_sh + ct_first_x * ct_sw", T)};
            ${store(dtype, "ct_out", "ct_row + ct_ox", "ct_first")};
            if (ct_want_pos) ct_pos[ct_row + ct_ox] = (${dialect.int64})ct_first_y * ct_W + ct_first_x;
        }
        for (${idx} ct_ki = 0; ct_ki < ct_KH; ct_ki++) {
            const ${idx} ct_y = ct_y0 + ct_ki * ct_DH;
            if (ct_y < 0 || ct_y >= ct_H) continue;
            for (${idx} ct_kj = 0; ct_kj < ct_KW; ct_kj++) {
${clipped_run(idx, "ct_lo", "ct_hi", "ct_OW", "ct_SW", "ct_PW", "ct_kj * ct_DW", "ct_W")}
                const ${idx} ct_at = ct_base + ct_y * ct_sh + (ct_kj * ct_DW - ct_PW) * ct_sw;
                const ${idx} ct_step = ct_SW * ct_sw;
                const ${dialect.int64} ct_where = (${dialect.int64})ct_y * ct_W + ct_kj * ct_DW - ct_PW;
                for (${idx} ct_ox = ct_lo; ct_ox < ct_hi; ct_ox++) {
                    const ${T} v = ${load(dtype, "ct_in", "ct_at + ct_ox * ct_step", T)};
                    const ${T} ct_best = ${load(dtype, "ct_out", "ct_row + ct_ox", T)};
                    if (v > ct_best || v != v) {
                        ${store(dtype, "ct_out", "ct_row + ct_ox", "v")};
                        if (ct_want_pos) ct_pos[ct_row + ct_ox] = ct_where + ct_ox * ct_SW;
                    }
                }
            }
        }
    }
</%def>

## Average pooling's window bounds (PyTorch's): the window clipped to the padded image counts
## for count_include_pad, clipped to the image for the sum and otherwise.
<%def name="mean_bounds(oy, ox)">
% if adaptive:
${adaptive_cell(oy, ox)}
            const ${T} ct_div = (${T})((ct_he - ct_hs) * (ct_we - ct_ws));
% else:
            const ${idx} ct_hs0 = ${oy} * ct_SH - ct_PH, ct_ws0 = ${ox} * ct_SW - ct_PW;
            const ${idx} ct_he0 = ct_hs0 + ct_KH < ct_H + ct_PH ? ct_hs0 + ct_KH : ct_H + ct_PH;
            const ${idx} ct_we0 = ct_ws0 + ct_KW < ct_W + ct_PW ? ct_ws0 + ct_KW : ct_W + ct_PW;
            const ${idx} ct_hs = ct_hs0 > 0 ? ct_hs0 : 0, ct_ws = ct_ws0 > 0 ? ct_ws0 : 0;
            const ${idx} ct_he = ct_he0 < ct_H ? ct_he0 : ct_H, ct_we = ct_we0 < ct_W ? ct_we0 : ct_W;
            const ${T} ct_div = ct_override != 0 ? ct_override : (${T})(ct_include_pad ?
                (ct_he0 - ct_hs0) * (ct_we0 - ct_ws0) : (ct_he - ct_hs) * (ct_we - ct_ws));
% endif
</%def>

## Adaptive pooling's cell (oy, ox): rows [floor(oy H / OH), ceil((oy + 1) H / OH)), columns
## likewise (PyTorch's start_index and end_index)
<%def name="adaptive_cell(oy, ox)">
            const ${idx} ct_hs = ${oy} * ct_H / ct_OH, ct_he = ((${oy} + 1) * ct_H + ct_OH - 1) / ct_OH;
            const ${idx} ct_ws = ${ox} * ct_W / ct_OW, ct_we = ((${ox} + 1) * ct_W + ct_OW - 1) / ct_OW;
</%def>

<%def name="mean_kernel()">
KERNEL void ${name}(GLOBAL ${dialect.ctype(dtype)}* ct_out, GLOBAL const ${dialect.ctype(dtype)}* ct_in,
    const ${idx} ct_off, const ${idx} ct_sn, const ${idx} ct_sc, const ${idx} ct_sh,
    const ${idx} ct_sw, const ${T} ct_override, const int ct_include_pad
% for g in geometry:
    , const ${idx} ct_${g}
% endfor
    )
{
% if rows:
${mean_rows()}
% elif direction == "window_mean":
    const ${idx} ct_total = ct_N * ct_C * ct_OH * ct_OW;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_ox = ct_i % ct_OW, ct_oy = ct_i / ct_OW % ct_OH;
        const ${idx} ct_c = ct_i / (ct_OW * ct_OH) % ct_C, ct_n = ct_i / (ct_OW * ct_OH * ct_C);
        const ${idx} ct_base = ct_off + ct_n * ct_sn + ct_c * ct_sc;
        {
${mean_bounds("ct_oy", "ct_ox")}
            ${T} ct_sum = 0;
            for (${idx} ct_y = ct_hs; ct_y < ct_he; ct_y++)
                for (${idx} ct_x = ct_ws; ct_x < ct_we; ct_x++)
                    ct_sum += ${load(dtype, "ct_in", "ct_base + ct_y * ct_sh + ct_x * ct_sw", T)};
            ${store(dtype, "ct_out", "ct_i", "ct_sum / ct_div")};
        }
    }
% else:
    ## the gradient: ct_in is g (N, C, OH, OW) from ct_off, contiguous; ct_out the image's,
    ## contiguous: each input position gathers g / divisor of the windows that hold it
    const ${idx} ct_total = ct_N * ct_C * ct_H * ct_W;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_px = ct_i % ct_W, ct_py = ct_i / ct_W % ct_H, ct_plane = ct_i / (ct_W * ct_H);
% if adaptive:
        ## the cells that hold (py, px): exactly [floor(py OH / H), ceil((py + 1) OH / H))
        const ${idx} ct_oy0 = ct_py * ct_OH / ct_H, ct_oy1 = ((ct_py + 1) * ct_OH + ct_H - 1) / ct_H;
        const ${idx} ct_ox0 = ct_px * ct_OW / ct_W, ct_ox1 = ((ct_px + 1) * ct_OW + ct_W - 1) / ct_W;
% else:
        const ${idx} ct_oy0 = ct_py + ct_PH < ct_KH ? 0 : (ct_py + ct_PH - ct_KH) / ct_SH + 1;
        const ${idx} ct_ox0 = ct_px + ct_PW < ct_KW ? 0 : (ct_px + ct_PW - ct_KW) / ct_SW + 1;
        const ${idx} ct_oy1 = (ct_py + ct_PH) / ct_SH + 1 < ct_OH ? (ct_py + ct_PH) / ct_SH + 1 : ct_OH;
        const ${idx} ct_ox1 = (ct_px + ct_PW) / ct_SW + 1 < ct_OW ? (ct_px + ct_PW) / ct_SW + 1 : ct_OW;
% endif
        ${T} ct_sum = 0;
        for (${idx} ct_oy = ct_oy0; ct_oy < ct_oy1; ct_oy++)
            for (${idx} ct_ox = ct_ox0; ct_ox < ct_ox1; ct_ox++) {
${mean_bounds("ct_oy", "ct_ox")}
                ct_sum += ${load(dtype, "ct_in", "ct_off + (ct_plane * ct_OH + ct_oy) * ct_OW + ct_ox", T)} / ct_div;
            }
        ${store(dtype, "ct_out", "ct_i", "ct_sum")};
    }
% endif
}
</%def>

## CPU devices, regular windows (no dilation), dtype == compute: rows, no per-element window
## arithmetic in the inner loops. window_mean: an item per output row (plane, oy), zeroed,
## then each window tap's run of its image row (clipped to the image) added in, in the
## window's row-major order (the per-window form's order), then each output divided by its
## divisor. window_mean_grad: an item per image row (plane, y), zeroed, then for each output
## row whose windows cover it, each tap column's run of g / divisor added in.
<%def name="mean_rows()">
% if direction == "window_mean":
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_N * ct_C * ct_OH; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_oy = ct_i % ct_OH, ct_plane = ct_i / ct_OH;
        const ${idx} ct_base = ct_off + ct_plane / ct_C * ct_sn + ct_plane % ct_C * ct_sc;
        const ${idx} ct_row = ct_i * ct_OW, ct_y0 = ct_oy * ct_SH - ct_PH;
        for (${idx} ct_ox = 0; ct_ox < ct_OW; ct_ox++)
            ct_out[ct_row + ct_ox] = 0;
        for (${idx} ct_ki = 0; ct_ki < ct_KH; ct_ki++) {
            const ${idx} ct_y = ct_y0 + ct_ki;
            if (ct_y < 0 || ct_y >= ct_H) continue;
            for (${idx} ct_kj = 0; ct_kj < ct_KW; ct_kj++) {
${clipped_run(idx, "ct_lo", "ct_hi", "ct_OW", "ct_SW", "ct_PW", "ct_kj", "ct_W")}
                const ${idx} ct_at = ct_base + ct_y * ct_sh + (ct_kj - ct_PW) * ct_sw;
                const ${idx} ct_step = ct_SW * ct_sw;
                for (${idx} ct_ox = ct_lo; ct_ox < ct_hi; ct_ox++)
                    ct_out[ct_row + ct_ox] += ct_in[ct_at + ct_ox * ct_step];
            }
        }
        for (${idx} ct_ox = 0; ct_ox < ct_OW; ct_ox++) {
${mean_bounds("ct_oy", "ct_ox")}
            ct_out[ct_row + ct_ox] /= ct_div;
        }
    }
% else:
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_N * ct_C * ct_H; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_y = ct_i % ct_H, ct_plane = ct_i / ct_H, ct_row = ct_i * ct_W;
        for (${idx} ct_x = 0; ct_x < ct_W; ct_x++)
            ct_out[ct_row + ct_x] = 0;
        const ${idx} ct_oy0 = ct_y + ct_PH < ct_KH ? 0 : (ct_y + ct_PH - ct_KH) / ct_SH + 1;
        const ${idx} ct_oy1 = (ct_y + ct_PH) / ct_SH + 1 < ct_OH ? (ct_y + ct_PH) / ct_SH + 1 : ct_OH;
        for (${idx} ct_oy = ct_oy0; ct_oy < ct_oy1; ct_oy++) {
            const ${idx} ct_grow = ct_off + (ct_plane * ct_OH + ct_oy) * ct_OW;
            for (${idx} ct_kj = 0; ct_kj < ct_KW; ct_kj++) {
${clipped_run(idx, "ct_lo", "ct_hi", "ct_OW", "ct_SW", "ct_PW", "ct_kj", "ct_W")}
                for (${idx} ct_ox = ct_lo; ct_ox < ct_hi; ct_ox++) {
${mean_bounds("ct_oy", "ct_ox")}
                    ct_out[ct_row + ct_ox * ct_SW - ct_PW + ct_kj] += ct_in[ct_grow + ct_ox] / ct_div;
                }
            }
        }
    }
% endif
</%def>
