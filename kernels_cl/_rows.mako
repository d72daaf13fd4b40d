## Row reductions for the one-group-per-row kernels (softmax.mako, cross_entropy.mako,
## layer_norm.mako), GPU form: each work-item folds its strided share of the row, then the group
## combines the items' values in local memory (`ct_sh`, and `ct_sh2` for pairs, G values of the
## compute type T each, declared by the kernel; `ct_lid` is the item's index in the group).

## Combine `var` across the group of G items (a power of 2) by the C expression `combine` of
## `a` and `b`; every item ends with the result in `var`.
<%def name="group_reduce(T, G, var, combine)">
% if G > 1:
        ct_sh[ct_lid] = ${var};
        BARRIER;
% for step in [2 ** i for i in reversed(range(G.bit_length() - 1))]:
        if (ct_lid < ${step}) {
            const ${T} a = ct_sh[ct_lid]; const ${T} b = ct_sh[ct_lid + ${step}];
            ct_sh[ct_lid] = ${combine};
        }
        BARRIER;
% endfor
        ${var} = ct_sh[0];
        BARRIER;
% endif
</%def>

## Online softmax statistics (Milakov and Gimelshein, "Online normalizer calculation for
## softmax", 2018): a running maximum `top` and the sum `total` of exp(x - top) over the values
## seen, rescaled whenever the maximum grows, so that one sweep over the row gives both.
## Special values end as the three sweeps' max-then-sum do: a NaN makes top and total NaN; a
## +inf makes the total NaN (exp(inf - inf), as there); -inf values add nothing, never
## exp(-inf - -inf), so that a later finite maximum still counts them as 0. A row of -inf ends
## with top -inf and total 0, and its outputs exp(x - top) / total and x - top - log(total)
## NaN (there the total is NaN).

## Fold the value `v` (an expression of type T, read once) into (top, total).
<%def name="online_add(T, top, total, v)">
        {
            const ${T} ct_v = ${v};
            const ${T} ct_new_top = ct_max(${top}, ct_v);
            ${total} = (${top} == ct_new_top ? ${total} : ${total} * exp(${top} - ct_new_top))
                + (ct_v == -(${T})INFINITY ? (${T})0 : exp(ct_v - ct_new_top));
            ${top} = ct_new_top;
        }
</%def>

## Combine every item's (top, total) across the group of G items; every item ends with the
## row's.
<%def name="group_online(T, G, top, total)">
% if G > 1:
        ct_sh[ct_lid] = ${top};
        ct_sh2[ct_lid] = ${total};
        BARRIER;
% for step in [2 ** i for i in reversed(range(G.bit_length() - 1))]:
        if (ct_lid < ${step}) {
            const ${T} ma = ct_sh[ct_lid], mb = ct_sh[ct_lid + ${step}];
            const ${T} sa = ct_sh2[ct_lid], sb = ct_sh2[ct_lid + ${step}];
            const ${T} m = ct_max(ma, mb);
            ct_sh[ct_lid] = m;
            ct_sh2[ct_lid] = (ma == m ? sa : sa * exp(ma - m)) + (mb == m ? sb : sb * exp(mb - m));
        }
        BARRIER;
% endfor
        ${top} = ct_sh[0];
        ${total} = ct_sh2[0];
        BARRIER;
% endif
</%def>
