## softmax / log_softmax along one dim: one work-group per line, two sweeps over the line: the
## maximum and the sum of exp(x - max) together (online, _rows.mako), reduced across the group in
## local memory, then the write.
##   log         False: exp(x - max) / sum;  True: x - max - log(sum)
##   kept_ndim   collapsed dims of the lines;  group_size: work-items per line (a power of 2)
##   width       > 0: the CPU variant (one item per line, lines contiguous in and out, input
##               and output of the compute type), sweeping in vectors of `width`: PoCL has
##               vector exp, and LLVM vectorises no scalar loop with exp in it (a softmax of
##               4096 x 1024 took 5.6 ms so, 33 ms in scalar lanes). Width 1 is the same code
##               in scalars (the CUDA dialect has no OpenCL vectors; CPUs run OpenCL).
<%namespace file="_prelude.mako" import="prelude, load, store, strided_offsets"/>
<%namespace file="_rows.mako" import="group_online, online_add"/>
<%!
from cltorch.codegen.vectors import vtype, vdecl, vload, vstore, vmax, fold_lanes
%>
<%namespace file="_math.mako" import="helpers"/>
<%
    T = dialect.ctype(compute)
    idx = index
    # the CPU variant's softmax into an output of the compute type: keep exp(x - max) there
    # from the second sweep and divide it in the third (one exp per element instead of two)
    keep = not log and out.name == compute.name
    W = width
    V = vtype(T, W)
%>
${prelude(compute.name == "float64")}
${helpers(T, True)}
% if W:
${vdecl(T, W, src.itemsize)}
% endif

KERNEL void ${name}(GLOBAL ${dialect.ctype(out)}* ct_out, GLOBAL const ${dialect.ctype(src)}* ct_in,
    const ${idx} ct_in_off, const ${idx} ct_m, const ${idx} ct_n, const ${idx} ct_in_step,
    const ${idx} ct_out_step
% for d in range(kept_ndim):
    , const ${idx} ct_ksize${d}, const ${idx} ct_kin${d}, const ${idx} ct_kout${d}
% endfor
    )
{
% if W:
${cpu_lines()}
% else:
    LOCAL ${T} ct_sh[${group_size}];
    LOCAL ${T} ct_sh2[${group_size}];
    const ${idx} ct_lid = (${idx})LID(0);
    for (${idx} ct_g = (${idx})GROUP_ID(0); ct_g < ct_m; ct_g += (${idx})NUM_GROUPS(0)) {
        ${idx} ct_ibase = ct_in_off, ct_obase = 0;
        ${strided_offsets(idx, "ct_g", "ct_ksize%d",
                          [("ct_ibase", "ct_kin%d", ()), ("ct_obase", "ct_kout%d", ())],
                          range(kept_ndim))}
        ${T} ct_top = -(${T})INFINITY, ct_total = 0;
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${group_size})
${online_add(T, "ct_top", "ct_total", capture(load, src, "ct_in", "ct_ibase + ct_r * ct_in_step", T))}
${group_online(T, group_size, "ct_top", "ct_total")}
% if log:
        const ${T} ct_shift = ct_top + log(ct_total);
% endif
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${group_size}) {
            const ${T} v = ${load(src, "ct_in", "ct_ibase + ct_r * ct_in_step", T)};
            ${store(out, "ct_out", "ct_obase + ct_r * ct_out_step", "v - ct_shift" if log else "exp(v - ct_top) / ct_total")};
        }
    }
% endif
}

## CPU lines: the max, then exp(x - max) summed and kept in the output, then the division
## (or, for log, x - max - log(sum)), each sweep in vectors with a scalar tail.
<%def name="cpu_lines()">
    for (${idx} ct_g = (${idx})GID(0); ct_g < ct_m; ct_g += (${idx})GLOBAL_SIZE(0)) {
        ${idx} ct_ibase = ct_in_off, ct_obase = 0;
        ${strided_offsets(idx, "ct_g", "ct_ksize%d",
                          [("ct_ibase", "ct_kin%d", ()), ("ct_obase", "ct_kout%d", ())],
                          range(kept_ndim))}
        GLOBAL const ${T}* ct_x = ct_in + ct_ibase;
        GLOBAL ${T}* ct_y = ct_out + ct_obase;
        ## the max skips NaN where ct_max keeps it: a NaN still makes its line's sum NaN
        ${V} ct_tops = (${V})(-INFINITY);
        ${idx} ct_r = 0;
        for (; ct_r + ${W} <= ct_n; ct_r += ${W}) { const ${V} ct_v = ${vload(W, "ct_x + ct_r")}; ct_tops = ${vmax("ct_v", "ct_tops")}; }
<% folded, name = fold_lanes(T, "ct_tops", W, lambda a, b: "fmax(%s, %s)" % (a, b)) %>\
        ${folded}
        ${T} ct_top = ${name};
        for (; ct_r < ct_n; ct_r++) ct_top = fmax(ct_top, ct_x[ct_r]);
        ${V} ct_totals = (${V})0;
        for (ct_r = 0; ct_r + ${W} <= ct_n; ct_r += ${W}) {
            const ${V} ct_e = exp(${vload(W, "ct_x + ct_r")} - ct_top);
% if keep:
            ${vstore(W, "ct_e", "ct_y + ct_r")};
% endif
            ct_totals += ct_e;
        }
<% folded, name = fold_lanes(T, "ct_totals", W, lambda a, b: "%s + %s" % (a, b)) %>\
        ${folded}
        ${T} ct_total = ${name};
        for (; ct_r < ct_n; ct_r++) {
            const ${T} ct_e = exp(ct_x[ct_r] - ct_top);
% if keep:
            ct_y[ct_r] = ct_e;
% endif
            ct_total += ct_e;
        }
% if log:
        const ${T} ct_shift = ct_top + log(ct_total);
        for (ct_r = 0; ct_r + ${W} <= ct_n; ct_r += ${W})
            ${vstore(W, vload(W, "ct_x + ct_r") + " - ct_shift", "ct_y + ct_r")};
        for (; ct_r < ct_n; ct_r++) ct_y[ct_r] = ct_x[ct_r] - ct_shift;
% else:
        for (ct_r = 0; ct_r + ${W} <= ct_n; ct_r += ${W})
            ${vstore(W, vload(W, "ct_y + ct_r") + " / ct_total", "ct_y + ct_r")};
        for (; ct_r < ct_n; ct_r++) ct_y[ct_r] /= ct_total;
% endif
    }
</%def>
