## softmax / log_softmax along one dim: one work-group per line, three sweeps over the line
## (max, sum of exp(x - max), write), each reduced across the group in local memory.
##   log         False: exp(x - max) / sum;  True: x - max - log(sum)
##   kept_ndim   collapsed dims of the lines;  group_size: work-items per line (a power of 2)
<%namespace file="_prelude.mako" import="prelude, load, store, strided_offsets"/>
<%namespace file="_math.mako" import="helpers"/>
<%
    T = dialect.ctype(compute)
    idx = index
    # softmax into an output of the compute type: keep exp(x - max) there from the second
    # sweep and divide it in the third (one exp per element instead of two)
    keep = not log and out.name == compute.name
%>
${prelude(compute.name == "float64")}
${helpers(T, True)}
## Combine `var` across the work-group; every work-item ends with the result in `var`.
<%def name="group_reduce(var, combine)">
        ct_sh[ct_lid] = ${var};
        BARRIER;
% for step in [2 ** i for i in reversed(range(group_size.bit_length() - 1))]:
        if (ct_lid < ${step}) {
            const ${T} a = ct_sh[ct_lid]; const ${T} b = ct_sh[ct_lid + ${step}];
            ct_sh[ct_lid] = ${combine};
        }
        BARRIER;
% endfor
        ${var} = ct_sh[0];
        BARRIER;
</%def>

KERNEL void ${name}(GLOBAL ${dialect.ctype(out)}* ct_out, GLOBAL const ${dialect.ctype(src)}* ct_in,
    const ${idx} ct_in_off, const ${idx} ct_m, const ${idx} ct_n, const ${idx} ct_in_step,
    const ${idx} ct_out_step
% for d in range(kept_ndim):
    , const ${idx} ct_ksize${d}, const ${idx} ct_kin${d}, const ${idx} ct_kout${d}
% endfor
    )
{
    LOCAL ${T} ct_sh[${group_size}];
    const ${idx} ct_lid = (${idx})LID(0);
    for (${idx} ct_g = (${idx})GROUP_ID(0); ct_g < ct_m; ct_g += (${idx})NUM_GROUPS(0)) {
        ${idx} ct_ibase = ct_in_off, ct_obase = 0;
        ${strided_offsets(idx, "ct_g", "ct_ksize%d",
                          [("ct_ibase", "ct_kin%d", ()), ("ct_obase", "ct_kout%d", ())],
                          range(kept_ndim))}
        ${T} ct_top = -(${T})INFINITY;
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${group_size})
            ct_top = ct_max(ct_top, ${load(src, "ct_in", "ct_ibase + ct_r * ct_in_step", T)});
${group_reduce("ct_top", "ct_max(a, b)")}
        ${T} ct_total = 0;
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${group_size}) {
            const ${T} ct_e = exp(${load(src, "ct_in", "ct_ibase + ct_r * ct_in_step", T)} - ct_top);
            ct_total += ct_e;
% if keep:
            ct_out[ct_obase + ct_r * ct_out_step] = ct_e;  // this item reads it back below
% endif
        }
${group_reduce("ct_total", "a + b")}
% if log:
        const ${T} ct_shift = ct_top + log(ct_total);
% endif
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${group_size}) {
% if keep:
            ct_out[ct_obase + ct_r * ct_out_step] /= ct_total;
% else:
            const ${T} v = ${load(src, "ct_in", "ct_ibase + ct_r * ct_in_step", T)};
            ${store(out, "ct_out", "ct_obase + ct_r * ct_out_step", "v - ct_shift" if log else "exp(v - ct_top) / ct_total")};
% endif
        }
    }
}
