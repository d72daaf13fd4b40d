## Depthwise convolution (groups == input channels, M = out_channels / groups outputs per
## channel) read straight from the image: no column matrix, no per-group GEMM of tiny
## matrices. Output channel o reads input channel o / M with its own KH x KW taps.
##   forward:     out (N, C*M, OH, OW), contiguous, from x (N, C, H, W) strided, w (C*M, KH*KW)
##                contiguous, and the bias (C*M) when ct_has_bias: an item per output
##                (w, the bias and g below are contiguous from their offsets ct_*_off)
##   input_grad:  dx (N, C, H, W), contiguous, from g (N, C*M, OH, OW) contiguous and w: an item
##                per input position, gathering the outputs its taps reach (the transposed
##                convolution: no atomics, no fold)
##   weight_grad: partial sums (N, C*M*KH*KW) in the compute type, from g and x: an item per
##                (image, tap) summing over the output positions; the sum over images follows
##   rows (CPU devices, float and double: accumulating in the output): forward an item per
##                output row, input_grad an item per input row, each tap adding its run of the
##                row at once (a unit-stride loop the compiler vectorises), no per-element
##                bounds test: the runs are clipped to the image first
## Geometry arguments (im2col.mako's order): N C H W KH KW SH SW PH PW DH DW OH OW, then M.
<%namespace file="_prelude.mako" import="prelude, load, store, clipped_run"/>
<%
    S = dialect.ctype(dtype)
    T = dialect.ctype(dtype.compute)
    idx = index
    geometry = "N C H W KH KW SH SW PH PW DH DW OH OW M".split()
%>
${prelude(dtype.name == "float64")}

<%def name="geometry_args()">
% for g in geometry:
    , const ${idx} ct_${g}
% endfor
</%def>

% if direction == "forward":
KERNEL void ${name}(GLOBAL ${S}* ct_out, GLOBAL const ${S}* ct_in, const ${idx} ct_off,
    const ${idx} ct_sn, const ${idx} ct_sc, const ${idx} ct_sh, const ${idx} ct_sw,
    GLOBAL const ${S}* ct_w, const ${idx} ct_w_off, GLOBAL const ${S}* ct_bias,
    const ${idx} ct_b_off, const int ct_has_bias
${geometry_args()}
    )
{
% if rows:
    const ${idx} ct_O = ct_C * ct_M, ct_total = ct_N * ct_O * ct_OH;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_oy = ct_i % ct_OH, ct_o = ct_i / ct_OH % ct_O, ct_n = ct_i / (ct_OH * ct_O);
        const ${idx} ct_base = ct_off + ct_n * ct_sn + ct_o / ct_M * ct_sc;
        GLOBAL ${T}* ct_row = ct_out + ct_i * ct_OW;
        const ${T} ct_b = ct_has_bias ? ct_bias[ct_b_off + ct_o] : (${T})0;
        for (${idx} ct_ox = 0; ct_ox < ct_OW; ct_ox++) ct_row[ct_ox] = ct_b;
        for (${idx} ct_ki = 0; ct_ki < ct_KH; ct_ki++) {
            const ${idx} ct_y = ct_oy * ct_SH - ct_PH + ct_ki * ct_DH;
            if (ct_y < 0 || ct_y >= ct_H) continue;
            for (${idx} ct_kj = 0; ct_kj < ct_KW; ct_kj++) {
                const ${T} ct_wv = ct_w[ct_w_off + (ct_o * ct_KH + ct_ki) * ct_KW + ct_kj];
${clipped_run(idx, "ct_lo", "ct_hi", "ct_OW", "ct_SW", "ct_PW", "ct_kj * ct_DW", "ct_W")}
                ## input ox * SW - PW + kj * DW of row y: at ct_at + ox * ct_step (no pointer
                ## before a buffer's start is formed)
                const ${idx} ct_at = ct_base + ct_y * ct_sh + (ct_kj * ct_DW - ct_PW) * ct_sw;
                const ${idx} ct_step = ct_SW * ct_sw;
                if (ct_step == 1)
                    for (${idx} ct_ox = ct_lo; ct_ox < ct_hi; ct_ox++) ct_row[ct_ox] += ct_in[ct_at + ct_ox] * ct_wv;
                else
                    for (${idx} ct_ox = ct_lo; ct_ox < ct_hi; ct_ox++) ct_row[ct_ox] += ct_in[ct_at + ct_ox * ct_step] * ct_wv;
            }
        }
    }
% else:
    const ${idx} ct_O = ct_C * ct_M, ct_total = ct_N * ct_O * ct_OH * ct_OW;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_ox = ct_i % ct_OW, ct_oy = ct_i / ct_OW % ct_OH;
        const ${idx} ct_o = ct_i / (ct_OW * ct_OH) % ct_O, ct_n = ct_i / (ct_OW * ct_OH * ct_O);
        const ${idx} ct_base = ct_off + ct_n * ct_sn + ct_o / ct_M * ct_sc;
        ${T} ct_acc = ct_has_bias ? ${load(dtype, "ct_bias", "ct_b_off + ct_o", T)} : (${T})0;
        for (${idx} ct_ki = 0; ct_ki < ct_KH; ct_ki++) {
            const ${idx} ct_y = ct_oy * ct_SH - ct_PH + ct_ki * ct_DH;
            if (ct_y < 0 || ct_y >= ct_H) continue;
            for (${idx} ct_kj = 0; ct_kj < ct_KW; ct_kj++) {
                const ${idx} ct_x = ct_ox * ct_SW - ct_PW + ct_kj * ct_DW;
                if (ct_x < 0 || ct_x >= ct_W) continue;
                ct_acc += ${load(dtype, "ct_in", "ct_base + ct_y * ct_sh + ct_x * ct_sw", T)} *
                    ${load(dtype, "ct_w", "ct_w_off + (ct_o * ct_KH + ct_ki) * ct_KW + ct_kj", T)};
            }
        }
        ${store(dtype, "ct_out", "ct_i", "ct_acc")};
    }
% endif
}
% elif direction == "input_grad":
KERNEL void ${name}(GLOBAL ${S}* ct_out, GLOBAL const ${S}* ct_g, const ${idx} ct_g_off,
    GLOBAL const ${S}* ct_w, const ${idx} ct_w_off
${geometry_args()}
    )
{
% if rows:
    const ${idx} ct_O = ct_C * ct_M, ct_total = ct_N * ct_C * ct_H;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_py = ct_i % ct_H, ct_c = ct_i / ct_H % ct_C, ct_n = ct_i / (ct_H * ct_C);
        GLOBAL ${T}* ct_row = ct_out + ct_i * ct_W;
        for (${idx} ct_px = 0; ct_px < ct_W; ct_px++) ct_row[ct_px] = 0;
        for (${idx} ct_m = 0; ct_m < ct_M; ct_m++) {
            const ${idx} ct_o = ct_c * ct_M + ct_m;
            for (${idx} ct_ki = 0; ct_ki < ct_KH; ct_ki++) {
                const ${idx} ct_ty = ct_py + ct_PH - ct_ki * ct_DH;
                if (ct_ty < 0 || ct_ty % ct_SH != 0 || ct_ty / ct_SH >= ct_OH) continue;
                GLOBAL const ${T}* ct_grow = ct_g + ct_g_off + ((ct_n * ct_O + ct_o) * ct_OH + ct_ty / ct_SH) * ct_OW;
                for (${idx} ct_kj = 0; ct_kj < ct_KW; ct_kj++) {
                    const ${T} ct_wv = ct_w[ct_w_off + (ct_o * ct_KH + ct_ki) * ct_KW + ct_kj];
${clipped_run(idx, "ct_lo", "ct_hi", "ct_OW", "ct_SW", "ct_PW", "ct_kj * ct_DW", "ct_W")}
                    ## output ox reaches input ox * SW - PW + kj * DW of this row
                    const ${idx} ct_at = ct_kj * ct_DW - ct_PW;
                    if (ct_SW == 1)
                        for (${idx} ct_ox = ct_lo; ct_ox < ct_hi; ct_ox++) ct_row[ct_at + ct_ox] += ct_grow[ct_ox] * ct_wv;
                    else
                        for (${idx} ct_ox = ct_lo; ct_ox < ct_hi; ct_ox++) ct_row[ct_at + ct_ox * ct_SW] += ct_grow[ct_ox] * ct_wv;
                }
            }
        }
    }
% else:
    const ${idx} ct_O = ct_C * ct_M, ct_total = ct_N * ct_C * ct_H * ct_W;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_px = ct_i % ct_W, ct_py = ct_i / ct_W % ct_H;
        const ${idx} ct_c = ct_i / (ct_W * ct_H) % ct_C, ct_n = ct_i / (ct_W * ct_H * ct_C);
        ${T} ct_acc = 0;
        for (${idx} ct_m = 0; ct_m < ct_M; ct_m++) {
            const ${idx} ct_o = ct_c * ct_M + ct_m;
            const ${idx} ct_plane = (ct_n * ct_O + ct_o) * ct_OH;
            for (${idx} ct_ki = 0; ct_ki < ct_KH; ct_ki++) {
                const ${idx} ct_ty = ct_py + ct_PH - ct_ki * ct_DH;
                if (ct_ty < 0 || ct_ty % ct_SH != 0 || ct_ty / ct_SH >= ct_OH) continue;
                for (${idx} ct_kj = 0; ct_kj < ct_KW; ct_kj++) {
                    const ${idx} ct_tx = ct_px + ct_PW - ct_kj * ct_DW;
                    if (ct_tx < 0 || ct_tx % ct_SW != 0 || ct_tx / ct_SW >= ct_OW) continue;
                    ct_acc += ${load(dtype, "ct_g", "ct_g_off + (ct_plane + ct_ty / ct_SH) * ct_OW + ct_tx / ct_SW", T)} *
                        ${load(dtype, "ct_w", "ct_w_off + (ct_o * ct_KH + ct_ki) * ct_KW + ct_kj", T)};
                }
            }
        }
        ${store(dtype, "ct_out", "ct_i", "ct_acc")};
    }
% endif
}
% else:
KERNEL void ${name}(GLOBAL ${T}* ct_out, GLOBAL const ${S}* ct_g, const ${idx} ct_g_off,
    GLOBAL const ${S}* ct_in,
    const ${idx} ct_off, const ${idx} ct_sn, const ${idx} ct_sc, const ${idx} ct_sh,
    const ${idx} ct_sw
${geometry_args()}
    )
{
    const ${idx} ct_O = ct_C * ct_M, ct_total = ct_N * ct_O * ct_KH * ct_KW;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_kj = ct_i % ct_KW, ct_ki = ct_i / ct_KW % ct_KH;
        const ${idx} ct_o = ct_i / (ct_KW * ct_KH) % ct_O, ct_n = ct_i / (ct_KW * ct_KH * ct_O);
        const ${idx} ct_base = ct_off + ct_n * ct_sn + ct_o / ct_M * ct_sc;
        const ${idx} ct_plane = (ct_n * ct_O + ct_o) * ct_OH;
        ${T} ct_acc = 0;
${clipped_run(idx, "ct_ylo", "ct_yhi", "ct_OH", "ct_SH", "ct_PH", "ct_ki * ct_DH", "ct_H")}
${clipped_run(idx, "ct_xlo", "ct_xhi", "ct_OW", "ct_SW", "ct_PW", "ct_kj * ct_DW", "ct_W")}
        for (${idx} ct_oy = ct_ylo; ct_oy < ct_yhi; ct_oy++) {
            const ${idx} ct_y = ct_oy * ct_SH - ct_PH + ct_ki * ct_DH;
            for (${idx} ct_ox = ct_xlo; ct_ox < ct_xhi; ct_ox++) {
                const ${idx} ct_x = ct_ox * ct_SW - ct_PW + ct_kj * ct_DW;
                ct_acc += ${load(dtype, "ct_g", "ct_g_off + (ct_plane + ct_oy) * ct_OW + ct_ox", T)} *
                    ${load(dtype, "ct_in", "ct_base + ct_y * ct_sh + ct_x * ct_sw", T)};
            }
        }
        ct_out[ct_i] = ct_acc;
    }
}
% endif
