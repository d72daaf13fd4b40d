## Batched matrix-vector products, the skinny GEMM cases (one output row or column):
## C[b, r] = sum_k A[b, r, k] * x[b, k], A and x strided, C contiguous (batch, rows).
##   group_size > 1, columns 1: a work-group per output reduces its row in local memory
##                   (rows contiguous along k);
##   group_size > 1, columns C > 1: a work-group per C adjacent outputs, as C columns of
##                   group_size / C items that split k (a GPU reading a matrix whose outputs are
##                   adjacent in memory: each k step reads C adjacent elements, and enough items
##                   run to fill the device), the slices summed in local memory;
##   group_size 1:   each work-item computes `width` adjacent outputs walking k once. On a GPU
##                   width is 1 and adjacent items read adjacent elements; on a CPU device
##                   width covers a cache line of a matrix stored down its columns.
<%namespace file="_prelude.mako" import="prelude, load, store"/>
<%
    T = dialect.ctype(compute)
    idx = index
    G, W, C = group_size, width, columns
    S = G // C  # k slices per column
%>
${prelude("float64" in (compute.name, out.name, src_a.name, src_x.name))}

KERNEL void ${name}(GLOBAL ${dialect.ctype(out)}* ct_c,
    GLOBAL const ${dialect.ctype(src_a)}* ct_a, const ${idx} ct_a_off, const ${idx} ct_a_sb,
    const ${idx} ct_a_sr, const ${idx} ct_a_sk,
    GLOBAL const ${dialect.ctype(src_x)}* ct_x, const ${idx} ct_x_off, const ${idx} ct_x_sb,
    const ${idx} ct_x_sk, const ${idx} ct_batch, const ${idx} ct_rows, const ${idx} ct_k)
{
% if G > 1 and C > 1:
    LOCAL ${T} ct_sh[${G}];
    const ${idx} ct_lid = (${idx})LID(0);
    const ${idx} ct_col = ct_lid % ${C}, ct_slice = ct_lid / ${C};
    const ${idx} ct_blocks = (ct_rows + ${C - 1}) / ${C};
    for (${idx} ct_g = (${idx})GROUP_ID(0); ct_g < ct_batch * ct_blocks; ct_g += (${idx})NUM_GROUPS(0)) {
        const ${idx} ct_b = ct_g / ct_blocks;
        const ${idx} ct_r = (ct_g % ct_blocks) * ${C} + ct_col;
        ## past the last row, repeat it (a valid address) and drop the result
        const ${idx} ct_abase = ct_a_off + ct_b * ct_a_sb + (ct_r < ct_rows ? ct_r : ct_rows - 1) * ct_a_sr;
        const ${idx} ct_xbase = ct_x_off + ct_b * ct_x_sb;
        ${T} ct_acc = 0;
        for (${idx} ct_kk = ct_slice; ct_kk < ct_k; ct_kk += ${S})
            ct_acc += ${load(src_a, "ct_a", "ct_abase + ct_kk * ct_a_sk", T)} *
                      ${load(src_x, "ct_x", "ct_xbase + ct_kk * ct_x_sk", T)};
        ct_sh[ct_lid] = ct_acc;
        BARRIER;
% for step in [2 ** i for i in reversed(range(S.bit_length() - 1))]:
        if (ct_slice < ${step}) ct_sh[ct_lid] += ct_sh[ct_lid + ${step * C}];
        BARRIER;
% endfor
        if (ct_slice == 0 && ct_r < ct_rows) {
            ${store(out, "ct_c", "ct_b * ct_rows + ct_r", "ct_sh[ct_lid]")};
        }
        BARRIER;
    }
% elif G > 1:
    LOCAL ${T} ct_sh[${G}];
    const ${idx} ct_lid = (${idx})LID(0);
    for (${idx} ct_g = (${idx})GROUP_ID(0); ct_g < ct_batch * ct_rows; ct_g += (${idx})NUM_GROUPS(0)) {
        const ${idx} ct_b = ct_g / ct_rows;
        const ${idx} ct_abase = ct_a_off + ct_b * ct_a_sb + (ct_g % ct_rows) * ct_a_sr;
        const ${idx} ct_xbase = ct_x_off + ct_b * ct_x_sb;
        ${T} ct_acc = 0;
        for (${idx} ct_kk = ct_lid; ct_kk < ct_k; ct_kk += ${G})
            ct_acc += ${load(src_a, "ct_a", "ct_abase + ct_kk * ct_a_sk", T)} *
                      ${load(src_x, "ct_x", "ct_xbase + ct_kk * ct_x_sk", T)};
        ct_sh[ct_lid] = ct_acc;
        BARRIER;
% for step in [2 ** i for i in reversed(range(G.bit_length() - 1))]:
        if (ct_lid < ${step}) ct_sh[ct_lid] += ct_sh[ct_lid + ${step}];
        BARRIER;
% endfor
        if (ct_lid == 0) {
            ${store(out, "ct_c", "ct_g", "ct_sh[0]")};
        }
        BARRIER;
    }
% else:
    const ${idx} ct_blocks = (ct_rows + ${W - 1}) / ${W};
    for (${idx} ct_g = (${idx})GID(0); ct_g < ct_batch * ct_blocks; ct_g += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_b = ct_g / ct_blocks;
        const ${idx} ct_r0 = (ct_g % ct_blocks) * ${W};
        const ${idx} ct_xbase = ct_x_off + ct_b * ct_x_sb;
% for w in range(W):
        ## past the last row, repeat it (a valid address) and drop the result
        const ${idx} ct_abase${w} = ct_a_off + ct_b * ct_a_sb +
            (ct_r0 + ${w} < ct_rows ? ct_r0 + ${w} : ct_rows - 1) * ct_a_sr;
        ${T} ct_acc${w} = 0;
% endfor
        for (${idx} ct_kk = 0; ct_kk < ct_k; ++ct_kk) {
            const ${T} ct_xv = ${load(src_x, "ct_x", "ct_xbase + ct_kk * ct_x_sk", T)};
% for w in range(W):
            ct_acc${w} += ${load(src_a, "ct_a", "ct_abase%d + ct_kk * ct_a_sk" % w, T)} * ct_xv;
% endfor
        }
% for w in range(W):
        if (ct_r0 + ${w} < ct_rows) {
            ${store(out, "ct_c", "ct_b * ct_rows + ct_r0 + %d" % w, "ct_acc%d" % w)};
        }
% endfor
    }
% endif
}
