## Layer normalisation of the rows of a contiguous (m, n) matrix: one work-group per row (one
## work-item on a CPU device, group_size 1), sums reduced across the group in local memory.
##   backward False: out = (x - mean) * rstd [* w] [+ b]; the row's mean and rstd are kept
##                   (mean first, then the mean square of x - mean: PyTorch's two-pass values)
##   backward True:  dx = rstd * (g*w - mean(g*w) - xhat * mean(g*w * xhat)) from the kept mean
##                   and rstd, and (gx) g * xhat for the weight's gradient (a column sum)
##   weight, bias: whether those operands exist;  compute: float32 or float64
<%namespace file="_prelude.mako" import="prelude, load, store"/>
<%
    T = dialect.ctype(compute)
    idx = index
    G = group_size
%>
${prelude(compute.name == "float64" or src.name == "float64")}
## Sum `var` across the work-group; every work-item ends with the total in `var`.
<%def name="group_sum(var)">
% if G > 1:
        ct_sh[ct_lid] = ${var};
        BARRIER;
% for step in [2 ** i for i in reversed(range(G.bit_length() - 1))]:
        if (ct_lid < ${step}) ct_sh[ct_lid] += ct_sh[ct_lid + ${step}];
        BARRIER;
% endfor
        ${var} = ct_sh[0];
        BARRIER;
% endif
</%def>
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
% if not backward:
        ${T} ct_s = 0;
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${G}) ct_s += ${x_at("ct_r")};
${group_sum("ct_s")}
        const ${T} ct_mu = ct_s / (${T})ct_n;
        ${T} ct_q = 0;
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${G}) {
            const ${T} ct_d = ${x_at("ct_r")} - ct_mu;
            ct_q += ct_d * ct_d;
        }
${group_sum("ct_q")}
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
${group_sum("ct_a")}
${group_sum("ct_c")}
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
