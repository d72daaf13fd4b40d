## Layer normalisation of the rows of a contiguous (m, n) matrix: one work-group per row (one
## work-item on a CPU device, group_size 1), sums reduced across the group in local memory.
##   backward False: out = (x - mean) * rstd [* w] [+ b]; the row's mean and rstd are kept
##                   (mean first, then the mean square of x - mean: PyTorch's two-pass values)
##   backward True:  dx = rstd * (g*w - mean(g*w) - xhat * mean(g*w * xhat)) from the kept mean
##                   and rstd, and (gx) g * xhat for the weight's gradient (a column sum)
##   weight, bias: whether those operands exist;  compute: float32 or float64
##   width       > 0: the CPU variant (group_size 1, x of the compute type), sweeping each row
##               in vectors of `width` with `width` partial sums (LLVM vectorises no float sum
##               kept in one accumulator); 1 is the same code in scalars (CUDA's dialect)
<%namespace file="_prelude.mako" import="prelude, load, store"/>
<%namespace file="_rows.mako" import="group_reduce"/>
<%!
from cltorch.codegen.vectors import vtype, vdecl, vload, vstore, fold_lanes
%>
<%
    T = dialect.ctype(compute)
    idx = index
    G, W = group_size, width

    def at(p, w):  # the w values at row position ct_r of pointer p (a scalar for w == 1)
        return vload(w, p + " + ct_r") if w > 1 else p + "[ct_r]"

    def normalised(w):
        return "(%s - ct_mu) * ct_rs" % at("ct_xr", w) + (" * " + at("ct_w", w) if weight else "") \
            + (" + " + at("ct_b", w) if bias else "")

    def dy(w):
        return at("ct_gr", w) + (" * " + at("ct_w", w) if weight else "")
%>
${prelude(compute.name == "float64" or src.name == "float64")}
% if W:
${vdecl(T, W, src.itemsize)}
% endif
<%def name="x_at(i)">${load(src, "ct_x", "ct_x_off + ct_row + " + i, T)}</%def>
<%def name="w_at(i)">${load(src, "ct_w", i, T) if weight else "(" + T + ")1"}</%def>

KERNEL void ${name}(
% if backward:
    GLOBAL ${dialect.ctype(src)}* ct_dx, GLOBAL ${T}* ct_gx,
    GLOBAL const ${dialect.ctype(src)}* ct_g,
% else:
    GLOBAL ${dialect.ctype(src)}* ct_out, GLOBAL ${T}* ct_mean, GLOBAL ${T}* ct_rstd,
% endif
    GLOBAL const ${dialect.ctype(src)}* ct_x, const ${idx} ct_x_off,
% if backward:
    GLOBAL const ${T}* ct_mean, GLOBAL const ${T}* ct_rstd,
% endif
    GLOBAL const ${dialect.ctype(src)}* ct_w, GLOBAL const ${dialect.ctype(src)}* ct_b,
    const ${idx} ct_m, const ${idx} ct_n, const ${T} ct_eps, const int ct_want_gx)
{
% if G > 1:
    LOCAL ${T} ct_sh[${G}];
% endif
    const ${idx} ct_lid = ${"(" + idx + ")LID(0)" if G > 1 else "0"};
    const ${idx} ct_first = ${"(" + idx + ")GROUP_ID(0)" if G > 1 else "(" + idx + ")GID(0)"};
    const ${idx} ct_step = ${"(" + idx + ")NUM_GROUPS(0)" if G > 1 else "(" + idx + ")GLOBAL_SIZE(0)"};
    for (${idx} ct_i = ct_first; ct_i < ct_m; ct_i += ct_step) {
        const ${idx} ct_row = ct_i * ct_n;
% if W:
${cpu_forward() if not backward else cpu_backward()}
% elif not backward:
        ${T} ct_s = 0;
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${G}) ct_s += ${x_at("ct_r")};
${group_reduce(T, G, "ct_s", "a + b")}
        const ${T} ct_mu = ct_s / (${T})ct_n;
        ${T} ct_q = 0;
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${G}) {
            const ${T} ct_d = ${x_at("ct_r")} - ct_mu;
            ct_q += ct_d * ct_d;
        }
${group_reduce(T, G, "ct_q", "a + b")}
        const ${T} ct_rs = (${T})1 / sqrt(ct_q / (${T})ct_n + ct_eps);
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${G}) {
            ${T} v = (${x_at("ct_r")} - ct_mu) * ct_rs;
% if weight:
            v = v * ${w_at("ct_r")};
% endif
% if bias:
            v = v + ${load(src, "ct_b", "ct_r", T)};
% endif
            ${store(src, "ct_out", "ct_row + ct_r", "v")};
        }
        if (ct_lid == 0) {
            ct_mean[ct_i] = ct_mu;
            ct_rstd[ct_i] = ct_rs;
        }
% else:
        const ${T} ct_mu = ct_mean[ct_i], ct_rs = ct_rstd[ct_i];
        ${T} ct_a = 0, ct_c = 0;
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${G}) {
            const ${T} ct_dy = ${load(src, "ct_g", "ct_row + ct_r", T)} * ${w_at("ct_r")};
            ct_a += ct_dy;
            ct_c += ct_dy * (${x_at("ct_r")} - ct_mu) * ct_rs;
        }
${group_reduce(T, G, "ct_a", "a + b")}
${group_reduce(T, G, "ct_c", "a + b")}
        const ${T} ct_am = ct_a / (${T})ct_n, ct_cm = ct_c / (${T})ct_n;
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${G}) {
            const ${T} ct_gv = ${load(src, "ct_g", "ct_row + ct_r", T)};
            const ${T} ct_xh = (${x_at("ct_r")} - ct_mu) * ct_rs;
            const ${T} ct_wv = ${w_at("ct_r")};
            ${store(src, "ct_dx", "ct_row + ct_r", "ct_rs * (ct_gv * ct_wv - ct_am - ct_xh * ct_cm)")};
            if (ct_want_gx) ct_gx[ct_row + ct_r] = ct_gv * ct_xh;
        }
% endif
    }
}

## ---- the CPU variant: each sweep in vectors of W lanes, then a scalar tail ----------------
## Sum the C expressions `terms` (functions of the width) over the row into the scalars
## `names`, after `setup(w)`'s statements in each step: W partial sums, folded, then the tail.
<%def name="row_sums(names, terms, setup=lambda w: '')">
        ${T} ${", ".join(names)};
        {
            ${idx} ct_r = 0;
% if W > 1:
<% V = vtype(T, W) %>\
            ${V} ${", ".join(n + "_v = (" + V + ")0" for n in names)};
            for (; ct_r + ${W} <= ct_n; ct_r += ${W}) {
                ${setup(W)}
% for n, term in zip(names, terms):
                ${n}_v += ${term(W)};
% endfor
            }
% for n in names:
<% folded, lane = fold_lanes(T, n + "_v", W, lambda a, b: "%s + %s" % (a, b)) %>\
            ${folded}
            ${n} = ${lane};
% endfor
% else:
            ${", ".join(n + " = 0" for n in names)};
% endif
            for (; ct_r < ct_n; ct_r++) {
                ${setup(1)}
% for n, term in zip(names, terms):
                ${n} += ${term(1)};
% endfor
            }
        }
</%def>
## Run `body(w)` over the row's positions: in vectors of W, then the scalar tail.
<%def name="row_sweep(body)">
        {
            ${idx} ct_r = 0;
% if W > 1:
            for (; ct_r + ${W} <= ct_n; ct_r += ${W}) { ${body(W)} }
% endif
            for (; ct_r < ct_n; ct_r++) { ${body(1)} }
        }
</%def>
<%def name="cpu_forward()">
        GLOBAL const ${T}* ct_xr = ct_x + ct_x_off + ct_row;
${row_sums(["ct_s"], [lambda w: at("ct_xr", w)])}
        const ${T} ct_mu = ct_s / (${T})ct_n;
${row_sums(["ct_q"], [lambda w: "ct_d * ct_d"],
           lambda w: "const %s ct_d = %s - ct_mu;" % (vtype(T, w), at("ct_xr", w)))}
        const ${T} ct_rs = (${T})1 / sqrt(ct_q / (${T})ct_n + ct_eps);
        ct_mean[ct_i] = ct_mu;
        ct_rstd[ct_i] = ct_rs;
        GLOBAL ${T}* ct_yr = ct_out + ct_row;
${row_sweep(lambda w: (vstore(w, normalised(w), "ct_yr + ct_r") if w > 1 else "ct_yr[ct_r] = " + normalised(w)) + ";")}
</%def>
<%def name="cpu_backward()">
        const ${T} ct_mu = ct_mean[ct_i], ct_rs = ct_rstd[ct_i];
        GLOBAL const ${T}* ct_xr = ct_x + ct_x_off + ct_row;
        GLOBAL const ${T}* ct_gr = ct_g + ct_row;
${row_sums(["ct_a", "ct_c"], [lambda w: "ct_dy", lambda w: "ct_dy * ((%s - ct_mu) * ct_rs)" % at("ct_xr", w)],
           lambda w: "const %s ct_dy = %s;" % (vtype(T, w), dy(w)))}
        const ${T} ct_am = ct_a / (${T})ct_n, ct_cm = ct_c / (${T})ct_n;
        GLOBAL ${T}* ct_dxr = ct_dx + ct_row;
        GLOBAL ${T}* ct_gxr = ct_gx + ct_row;
<%def name="backward_step(w)">
            const ${vtype(T, w)} ct_xh = (${at("ct_xr", w)} - ct_mu) * ct_rs;
            const ${vtype(T, w)} ct_dxv = ct_rs * (${dy(w)} - ct_am - ct_xh * ct_cm);
% if w > 1:
            ${vstore(w, "ct_dxv", "ct_dxr + ct_r")};
            if (ct_want_gx) ${vstore(w, at("ct_gr", w) + " * ct_xh", "ct_gxr + ct_r")};
% else:
            ct_dxr[ct_r] = ct_dxv;
            if (ct_want_gx) ct_gxr[ct_r] = ct_gr[ct_r] * ct_xh;
% endif
</%def>
${row_sweep(lambda w: capture(backward_step, w))}
</%def>
