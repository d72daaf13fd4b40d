## Inclusive scans along one dim: each work-item walks one line serially (a first, simple scan;
## a work-efficient parallel scan for long lines comes later).
##   combine(a, b) over accumulator a and element b;  arg "max"/"min": cummax/cummin with the
##   index of the running extreme (ties and NaN take the latest, as in PyTorch)
<%namespace file="_prelude.mako" import="prelude, load, store"/>
<%namespace file="_math.mako" import="helpers"/>
<%
    T = dialect.ctype(compute)
    idx = index
    fp64 = "float64" in (compute.name, out.name, src.name)
%>
${prelude(fp64)}
${helpers(T, compute.is_floating_point)}

KERNEL void ${name}(GLOBAL ${dialect.ctype(out)}* ct_out,
% if arg:
    GLOBAL ${dialect.int64}* ct_out_index,
% endif
    GLOBAL const ${dialect.ctype(src)}* ct_in, const ${idx} ct_in_off, const ${idx} ct_m,
    const ${idx} ct_len, const ${idx} ct_in_step, const ${idx} ct_out_step
% for d in range(kept_ndim):
    , const ${idx} ct_ksize${d}, const ${idx} ct_kin${d}, const ${idx} ct_kout${d}
% endfor
    )
{
    for (${idx} ct_g = (${idx})GID(0); ct_g < ct_m; ct_g += (${idx})GLOBAL_SIZE(0)) {
        ${idx} ct_ibase = ct_in_off, ct_obase = 0, ct_rest = ct_g;
% for d in reversed(range(kept_ndim)):
        {
            const ${idx} ct_c = ct_rest % ct_ksize${d};
            ct_rest /= ct_ksize${d};
            ct_ibase += ct_c * ct_kin${d};
            ct_obase += ct_c * ct_kout${d};
        }
% endfor
        ${T} a = 0;
% if arg:
        ${idx} ct_best = 0;
% endif
        for (${idx} ct_r = 0; ct_r < ct_len; ++ct_r) {
            const ${T} b = ${load(src, "ct_in", "ct_ibase + ct_r * ct_in_step", T)};
% if arg:
            if (ct_r == 0 || b != b || (a == a && b ${">=" if arg == "max" else "<="} a)) {
                a = b;
                ct_best = ct_r;
            }
            ct_out_index[ct_obase + ct_r * ct_out_step] = ct_best;
% else:
            a = ct_r == 0 ? b : (${combine});
% endif
            ${store(out, "ct_out", "ct_obase + ct_r * ct_out_step", "a")};
        }
    }
}
