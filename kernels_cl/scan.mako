## Inclusive scans along one dim. Each work-item walks one line, or one chunk of a line:
##   phase "line"    a whole line per item (many lines, or short ones)
##   phase "total"   chunk c of every line: write only the chunk's total to ct_tot[g]
##   phase "rescan"  chunk c again, starting from ct_carry[g - 1] (the inclusive scan of the
##                   totals of chunks 0..c-1) and writing the output: a long line in 3 launches
##   combine(a, b) over accumulator a and element b;  arg "max"/"min": cummax/cummin with the
##   index of the running extreme (ties and NaN take the latest, as in PyTorch)
<%namespace file="_prelude.mako" import="prelude, load, store, strided_offsets"/>
<%namespace file="_math.mako" import="helpers"/>
<%
    T = dialect.ctype(compute)
    idx = index
    fp64 = "float64" in (compute.name, out.name, src.name)
    chunked = phase != "line"
%>
${prelude(fp64)}
${helpers(T, compute.is_floating_point)}

KERNEL void ${name}(GLOBAL ${dialect.ctype(out)}* ct_out,
% if arg:
    GLOBAL ${dialect.int64}* ct_out_index,
% endif
% if chunked:
    GLOBAL ${T}* ct_carry, GLOBAL ${dialect.int64}* ct_carry_index,
    const ${idx} ct_chunks, const ${idx} ct_chunk_len,
% endif
    GLOBAL const ${dialect.ctype(src)}* ct_in, const ${idx} ct_in_off, const ${idx} ct_m,
    const ${idx} ct_len, const ${idx} ct_in_step, const ${idx} ct_out_step
% for d in range(kept_ndim):
    , const ${idx} ct_ksize${d}, const ${idx} ct_kin${d}, const ${idx} ct_kout${d}
% endfor
    )
{
<% per_line = "ct_chunks" if chunked else "1" %>
    for (${idx} ct_g = (${idx})GID(0); ct_g < ct_m * ${per_line}; ct_g += (${idx})GLOBAL_SIZE(0)) {
        ${idx} ct_ibase = ct_in_off, ct_obase = 0;
        ${strided_offsets(idx, "ct_g / " + per_line, "ct_ksize%d",
                          [("ct_ibase", "ct_kin%d", ()), ("ct_obase", "ct_kout%d", ())],
                          range(kept_ndim))}
% if chunked:
        const ${idx} ct_first = (ct_g % ct_chunks) * ct_chunk_len;
        const ${idx} ct_end = ct_first + ct_chunk_len < ct_len ? ct_first + ct_chunk_len : ct_len;
% else:
        const ${idx} ct_first = 0, ct_end = ct_len;
% endif
        ${T} a = 0;
        ${idx} ct_best = 0;
        int ct_have = 0;
% if phase == "rescan":
        if (ct_first > 0) {
            a = ct_carry[ct_g - 1];
% if arg:
            ct_best = (${idx})ct_carry_index[ct_g - 1];
% endif
            ct_have = 1;
        }
% endif
        for (${idx} ct_r = ct_first; ct_r < ct_end; ++ct_r) {
            const ${T} b = ${load(src, "ct_in", "ct_ibase + ct_r * ct_in_step", T)};
% if arg:
            if (!ct_have || b != b || (a == a && b ${">=" if arg == "max" else "<="} a)) {
                a = b;
                ct_best = ct_r;
            }
% else:
            a = ct_have ? (${combine}) : b;
% endif
            ct_have = 1;
% if phase != "total":
% if arg:
            ct_out_index[ct_obase + ct_r * ct_out_step] = ct_best;
% endif
            ${store(out, "ct_out", "ct_obase + ct_r * ct_out_step", "a")};
% endif
        }
% if phase == "total":
        ct_carry[ct_g] = a;
% if arg:
        ct_carry_index[ct_g] = ct_best;
% endif
% endif
    }
}
