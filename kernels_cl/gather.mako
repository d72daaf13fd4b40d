## out[c] = src[c with coordinate `dim` replaced by index[c]] over the contiguous out's shape
## (index broadcast with 0 strides gives index_select). Out-of-range indices are reported by
## check.mako (raised at the next sync); this kernel writes 0 for them, never reading outside `src`.
<%namespace file="_prelude.mako" import="prelude, strided_offsets"/>
<%
    idx = index
    fp64 = src.name == "float64"
    ST = dialect.bits(src)  # values move as bits: no arithmetic
%>
${prelude(fp64)}

KERNEL void ${name}(GLOBAL ${ST}* ct_out, GLOBAL const ${ST}* ct_src, const ${idx} ct_src_off,
    GLOBAL const ${dialect.int64}* ct_index, const ${idx} ct_index_off, const ${idx} ct_n,
    const ${idx} ct_dim_size
% for d in range(ndim):
    , const ${idx} ct_size${d}, const ${idx} ct_sst${d}, const ${idx} ct_ist${d}
% endfor
    )
{
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_n; ct_i += (${idx})GLOBAL_SIZE(0)) {
        ${idx} ct_spos = ct_src_off, ct_ipos = ct_index_off;
        ${strided_offsets(idx, "ct_i", "ct_size%d", [("ct_spos", "ct_sst%d", (dim,)),
                                                     ("ct_ipos", "ct_ist%d", ())], range(ndim))}
        ${idx} ct_j = (${idx})ct_index[ct_ipos];
        if (ct_j < 0) ct_j += ct_dim_size;
        const int ct_ok = ct_j >= 0 && ct_j < ct_dim_size;
        ct_out[ct_i] = ct_ok ? ct_src[ct_spos + (ct_ok ? ct_j : 0) * ct_sst${dim}] : (${ST})0;
    }
}
