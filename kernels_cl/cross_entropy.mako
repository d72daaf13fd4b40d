## Cross entropy of the rows of a contiguous (m, n) matrix of logits against class indices,
## fused (log_softmax and NLL in one kernel): one work-group per row (one work-item on a CPU
## device, group_size 1, sweeping in vectors of `width` as softmax.mako's CPU variant does).
##   backward False: loss[r] = valid ? lse - x[r, t] : 0 and lse[r] = max + log(sum exp(x - max))
##                   (kept for the backward), t = target[r], valid[r] = t != ignore (1 or 0, in
##                   the compute type); a valid t out of range reads a clamped column and is
##                   recorded in the device's error slot at ct_site (check.mako's protocol)
##   x, target: contiguous from their offsets; lse, valid and the outputs from 0
##   backward True:  dx[r, c] = scale[r] * (exp(x[r, c] - lse[r]) - (c == t)), the scale being
##                   valid[r] * the output gradient (grad[r * step], of dtype `grad`), over
##                   max(total, 1) where ct_mean (the count of valid rows, for 'mean')
<%namespace file="_prelude.mako" import="prelude, load, store"/>
<%namespace file="_math.mako" import="helpers"/>
<%namespace file="_rows.mako" import="group_online, online_add"/>
<%!
from cltorch.codegen.vectors import vtype, vdecl, vload, vstore, vmax, fold_lanes
%>
<%
    T = dialect.ctype(compute)
    idx = index
    G, W = group_size, width
    V = vtype(T, W)
    i64 = dialect.int64
%>
${prelude(compute.name == "float64" or src.name == "float64")}
${helpers(T, True)}
% if W:
${vdecl(T, W, src.itemsize)}
% endif
<%def name="x_at(i)">${load(src, "ct_x", "ct_row + " + i, T)}</%def>

KERNEL void ${name}(GLOBAL ${dialect.ctype(src)}* ct_out, GLOBAL ${T}* ct_lse,
    GLOBAL ${T}* ct_valid, GLOBAL const ${dialect.ctype(src)}* ct_x, const ${idx} ct_x_off,
    GLOBAL const ${i64}* ct_target, const ${idx} ct_t_off,
% if backward:
    GLOBAL const ${dialect.ctype(grad)}* ct_grad, const ${idx} ct_grad_off, const ${idx} ct_grad_step,
    GLOBAL const ${T}* ct_total, const int ct_mean,
% else:
    GLOBAL int* ct_slot, const int ct_site,
% endif
    const ${i64} ct_ignore, const ${idx} ct_m, const ${idx} ct_n)
{
% if G > 1:
    LOCAL ${T} ct_sh[${G}];
    LOCAL ${T} ct_sh2[${G}];
    const ${idx} ct_lid = (${idx})LID(0);
    const ${idx} ct_first = (${idx})GROUP_ID(0), ct_step = (${idx})NUM_GROUPS(0);
% else:
    const ${idx} ct_lid = 0;
    const ${idx} ct_first = (${idx})GID(0), ct_step = (${idx})GLOBAL_SIZE(0);
% endif
    for (${idx} ct_g = ct_first; ct_g < ct_m; ct_g += ct_step) {
        const ${idx} ct_row = ct_x_off + ct_g * ct_n, ct_orow = ct_g * ct_n;
        const ${i64} ct_t = ct_target[ct_t_off + ct_g];
        const ${idx} ct_tc = ct_t < 0 ? 0 : (ct_t >= ct_n ? ct_n - 1 : (${idx})ct_t);
% if backward:
        const ${T} ct_shift = ct_lse[ct_g];
        const ${T} ct_share = ct_valid[ct_g] * ${load(grad, "ct_grad", "ct_grad_off + ct_g * ct_grad_step", T)};
        const ${T} ct_s = ct_mean ? ct_share / (ct_total[0] < 1 ? (${T})1 : ct_total[0]) : ct_share;
% if W:
<% assert G == 1 %>\
        ${idx} ct_r = 0;
% if W > 1 and src.name == compute.name:
        for (; ct_r + ${W} <= ct_n; ct_r += ${W})
            ${vstore(W, "ct_s * exp(" + vload(W, "ct_x + ct_row + ct_r") + " - ct_shift)", "ct_out + ct_orow + ct_r")};
% endif
        for (; ct_r < ct_n; ct_r++)
            { const ${T} ct_v = ${x_at("ct_r")}; ${store(src, "ct_out", "ct_orow + ct_r", "ct_s * exp(ct_v - ct_shift)")}; }
        ## the target's column: the same formula's other branch
        if (ct_t != ct_ignore) {
            const ${T} ct_v = ${x_at("ct_tc")};
            ${store(src, "ct_out", "ct_orow + ct_tc", "ct_s * (exp(ct_v - ct_shift) - (" + T + ")1)")};
        }
% else:
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${G}) {
            const ${T} ct_p = exp(${x_at("ct_r")} - ct_shift);
            ${store(src, "ct_out", "ct_orow + ct_r", "ct_s * (ct_r == ct_tc && ct_t != ct_ignore ? ct_p - (" + T + ")1 : ct_p)")};
        }
% endif
% else:
% if W > 1 and src.name == compute.name:
        ## the max skips NaN where ct_max keeps it: a NaN still makes the row's sum NaN
        ${V} ct_tops = (${V})(-INFINITY);
        ${idx} ct_r = 0;
        for (; ct_r + ${W} <= ct_n; ct_r += ${W}) { const ${V} ct_v = ${vload(W, "ct_x + ct_row + ct_r")}; ct_tops = ${vmax("ct_v", "ct_tops")}; }
<% folded, top = fold_lanes(T, "ct_tops", W, lambda a, b: "fmax(%s, %s)" % (a, b)) %>\
        ${folded}
        ${T} ct_top = ${top};
        for (; ct_r < ct_n; ct_r++) ct_top = fmax(ct_top, ct_x[ct_row + ct_r]);
        ${V} ct_totals = (${V})0;
        for (ct_r = 0; ct_r + ${W} <= ct_n; ct_r += ${W})
            ct_totals += exp(${vload(W, "ct_x + ct_row + ct_r")} - ct_top);
<% folded, total = fold_lanes(T, "ct_totals", W, lambda a, b: "%s + %s" % (a, b)) %>\
        ${folded}
        ${T} ct_total = ${total};
        for (; ct_r < ct_n; ct_r++) ct_total += exp(ct_x[ct_row + ct_r] - ct_top);
% else:
        ## one sweep: the maximum and the sum of exp(x - max) together (online, _rows.mako)
        ${T} ct_top = -(${T})INFINITY, ct_total = 0;
        for (${idx} ct_r = ct_lid; ct_r < ct_n; ct_r += ${G})
${online_add(T, "ct_top", "ct_total", capture(x_at, "ct_r"))}
${group_online(T, G, "ct_top", "ct_total")}
% endif
        if (ct_lid == 0) {
            const ${T} ct_l = ct_top + log(ct_total);
            ct_lse[ct_g] = ct_l;
            const ${T} ct_v = ${x_at("ct_tc")};
            ${store(src, "ct_out", "ct_g", "ct_t != ct_ignore ? ct_l - ct_v : (" + T + ")0")};
            ct_valid[ct_g] = ct_t != ct_ignore ? (${T})1 : (${T})0;
            if (ct_t != ct_ignore && (ct_t < 0 || ct_t >= ct_n) &&
                    ATOMIC_CAS_I32(ct_slot, 0, ct_site) == 0) {
                ct_slot[1] = (int)(ct_t & 0xffffffff);
                ct_slot[2] = (int)(ct_t >> 32);
            }
        }
% endif
    }
}
