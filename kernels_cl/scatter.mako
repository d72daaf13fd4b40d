## Writes through an index tensor: for every element c of `index` (shape of the loop),
## out[c with coordinate `dim` replaced by index[c]] = src[c] ("set", bits copied) or += it
## ("add", atomically: float32/int32 everywhere, float64/int64 on CUDA). `scalar`: src is the
## value ct_value instead of a tensor. Out-of-range indices were refused on the host.
<%namespace file="_prelude.mako" import="prelude"/>
<%
    idx = index
    fp64 = dtype.name == "float64"
    if mode == "set":
        T = dialect.bits(dtype)
    else:
        T = dialect.ctype(dtype)
    atomic = {"float32": "ATOMIC_ADD_F32", "int32": "ATOMIC_ADD_I32", "float64": "ATOMIC_ADD_F64",
              "int64": "ATOMIC_ADD_I64"}.get(dtype.name)
%>
${prelude(fp64)}

KERNEL void ${name}(GLOBAL ${T}* ct_out, const ${idx} ct_out_off,
% if scalar:
    const ${T} ct_value,
% else:
    GLOBAL const ${T}* ct_src, const ${idx} ct_src_off,
% endif
    GLOBAL const ${dialect.int64}* ct_index, const ${idx} ct_index_off, const ${idx} ct_n,
    const ${idx} ct_dim_size
% for d in range(ndim):
    , const ${idx} ct_size${d}, const ${idx} ct_ost${d}, const ${idx} ct_sst${d}, const ${idx} ct_ist${d}
% endfor
    )
{
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_n; ct_i += (${idx})GLOBAL_SIZE(0)) {
        ${idx} ct_rest = ct_i, ct_opos = ct_out_off, ct_spos = ${"0" if scalar else "ct_src_off"}, ct_ipos = ct_index_off;
% for d in reversed(range(ndim)):
        {
            const ${idx} ct_c = ct_rest % ct_size${d};
            ct_rest /= ct_size${d};
% if d != dim:
            ct_opos += ct_c * ct_ost${d};
% endif
            ct_spos += ct_c * ct_sst${d};
            ct_ipos += ct_c * ct_ist${d};
        }
% endfor
        ${idx} ct_j = (${idx})ct_index[ct_ipos];
        if (ct_j < 0) ct_j += ct_dim_size;
        if (ct_j < 0 || ct_j >= ct_dim_size) continue;
        ct_opos += ct_j * ct_ost${dim};
        const ${T} ct_v = ${"ct_value" if scalar else "ct_src[ct_spos]"};
% if mode == "set":
        ct_out[ct_opos] = ct_v;
% else:
        ${atomic}(ct_out + ct_opos, ct_v);
% endif
    }
}
