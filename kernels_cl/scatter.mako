## Writes through an index tensor: for every element c of `index`,
## out[c with coordinate `dim` replaced by index[c]] = src[c] ("set", bits copied), or
## out[...] = combine(out[...], src[c]) for mode "add", "multiply", "amax", "amin".
## Two ways to run:
##   serial=False  one work-item per index element; "add" is an atomic add (float32/int32
##                 everywhere, float64/int64 on CUDA). Used for "set" and atomic adds.
##   serial=True   one work-item per line along `dim`, walking it in order: indices of one
##                 line only ever hit the same line of `out`, so no two work-items collide.
##                 Any mode, any dtype, no atomics, and duplicates combine in index order.
## `scalar`: src is the value ct_value instead of a tensor. Out-of-range indices are reported
## by check.mako (raised at the next sync); this kernel skips them, never writing outside `out`.
<%namespace file="_prelude.mako" import="prelude, load, store, strided_offsets"/>
<%namespace file="_math.mako" import="helpers"/>
<%
    idx = index
    fp64 = dtype.name == "float64"
    C = dialect.ctype(dtype.compute)
    T = dialect.bits(dtype) if mode == "set" else dialect.ctype(dtype)
    atomic = {"float32": "ATOMIC_ADD_F32", "int32": "ATOMIC_ADD_I32", "float64": "ATOMIC_ADD_F64",
              "int64": "ATOMIC_ADD_I64"}.get(dtype.name)
    combine = {"add": "a + b", "multiply": "a * b", "amax": "ct_max(a, b)",
               "amin": "ct_min(a, b)"}.get(mode)
    value_type = T if mode == "set" else C
%>
${prelude(fp64)}
% if combine:
${helpers(C, dtype.compute.is_floating_point)}
% endif
## out[opos] = (or combined with) the value at src position spos
<%def name="write(opos, spos)">\
% if mode == "set":
ct_out[${opos}] = ${value(spos)};\
% elif not serial:
${atomic}(ct_out + ${opos}, ${value(spos)});\
% else:
{ const ${C} a = ${load(dtype, "ct_out", opos, C)}; const ${C} b = ${value(spos)}; ${store(dtype, "ct_out", opos, combine)}; }\
% endif
</%def>
<%def name="value(spos)">\
% if scalar:
ct_value\
% elif mode == "set":
ct_src[${spos}]\
% else:
${load(dtype, "ct_src", spos, C)}\
% endif
</%def>

KERNEL void ${name}(GLOBAL ${T}* ct_out, const ${idx} ct_out_off,
% if scalar:
    const ${value_type} ct_value,
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
        ${idx} ct_opos = ct_out_off, ct_spos = ${"0" if scalar else "ct_src_off"}, ct_ipos = ct_index_off;
        ${strided_offsets(idx, "ct_i", "ct_size%d",
                          [("ct_opos", "ct_ost%d", (dim,)), ("ct_spos", "ct_sst%d", ()),
                           ("ct_ipos", "ct_ist%d", ())],
                          [d for d in range(ndim) if not (serial and d == dim)])}
% if serial:
        for (${idx} ct_k = 0; ct_k < ct_size${dim}; ++ct_k) {
            ${idx} ct_j = (${idx})ct_index[ct_ipos + ct_k * ct_ist${dim}];
            if (ct_j < 0) ct_j += ct_dim_size;
            if (ct_j < 0 || ct_j >= ct_dim_size) continue;
            ${write("ct_opos + ct_j * ct_ost" + str(dim), "ct_spos + ct_k * ct_sst" + str(dim))}
        }
% else:
        ${idx} ct_j = (${idx})ct_index[ct_ipos];
        if (ct_j < 0) ct_j += ct_dim_size;
        if (ct_j < 0 || ct_j >= ct_dim_size) continue;
        ${write("ct_opos + ct_j * ct_ost" + str(dim), "ct_spos")}
% endif
    }
}
