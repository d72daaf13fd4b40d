## Sliding windows over images, the core of convolution and pooling (and F.unfold/F.fold).
##   unfold: x (N, C, H, W), strided -> cols (N, C*KH*KW, OH*OW), contiguous; a window
##           position outside the image reads ct_pad (0 for convolutions, -inf for max pools)
##   fold:   cols (N, C*KH*KW, OH*OW), contiguous -> image (N, C, H, W), contiguous; each pixel
##           sums the window positions that land on it (a gather: deterministic, no atomics)
## Geometry arguments (same order in both): N C H W KH KW SH SW PH PW DH DW OH OW.
<%namespace file="_prelude.mako" import="prelude, load, store"/>
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
    const ${idx} ct_total = ct_N * ct_C * ct_KH * ct_KW * ct_OH * ct_OW;
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_total; ct_i += (${idx})GLOBAL_SIZE(0)) {
        ${idx} ct_r = ct_i;
        const ${idx} ct_ox = ct_r % ct_OW; ct_r /= ct_OW;
        const ${idx} ct_oy = ct_r % ct_OH; ct_r /= ct_OH;
        const ${idx} ct_kj = ct_r % ct_KW; ct_r /= ct_KW;
        const ${idx} ct_ki = ct_r % ct_KH; ct_r /= ct_KH;
        const ${idx} ct_c = ct_r % ct_C;
        const ${idx} ct_n = ct_r / ct_C;
        const ${idx} ct_y = ct_oy * ct_SH - ct_PH + ct_ki * ct_DH;
        const ${idx} ct_x = ct_ox * ct_SW - ct_PW + ct_kj * ct_DW;
        ${T} v = ct_pad;
        if (ct_y >= 0 && ct_y < ct_H && ct_x >= 0 && ct_x < ct_W)
            v = ${load(dtype, "ct_in", "ct_off + ct_n * ct_sn + ct_c * ct_sc + ct_y * ct_sh + ct_x * ct_sw", T)};
        ${store(dtype, "ct_out", "ct_i", "v")};
    }
}
% else:
KERNEL void ${name}(GLOBAL ${dialect.ctype(dtype)}* ct_out, GLOBAL const ${dialect.ctype(dtype)}* ct_in
% for g in geometry:
    , const ${idx} ct_${g}
% endfor
    )
{
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
}
% endif
