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
## Geometry arguments (im2col.mako's order): N C H W KH KW SH SW PH PW DH DW OH OW, then M.
<%namespace file="_prelude.mako" import="prelude, load, store"/>
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
}
% elif direction == "input_grad":
KERNEL void ${name}(GLOBAL ${S}* ct_out, GLOBAL const ${S}* ct_g, const ${idx} ct_g_off,
    GLOBAL const ${S}* ct_w, const ${idx} ct_w_off
${geometry_args()}
    )
{
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
        for (${idx} ct_oy = 0; ct_oy < ct_OH; ct_oy++) {
            const ${idx} ct_y = ct_oy * ct_SH - ct_PH + ct_ki * ct_DH;
            if (ct_y < 0 || ct_y >= ct_H) continue;
            for (${idx} ct_ox = 0; ct_ox < ct_OW; ct_ox++) {
                const ${idx} ct_x = ct_ox * ct_SW - ct_PW + ct_kj * ct_DW;
                if (ct_x < 0 || ct_x >= ct_W) continue;
                ct_acc += ${load(dtype, "ct_g", "ct_g_off + (ct_plane + ct_oy) * ct_OW + ct_ox", T)} *
                    ${load(dtype, "ct_in", "ct_base + ct_y * ct_sh + ct_x * ct_sw", T)};
            }
        }
        ct_out[ct_i] = ct_acc;
    }
}
% endif
