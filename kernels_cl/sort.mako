## One compare-exchange pass of a bitonic sorting network over M lines of P = 2^n (key, index)
## pairs. Slots with index >= len are padding and always sort last. The order is total (ties
## broken by the original index), so the result equals a stable sort. NaN sorts as the largest
## value: last ascending, first descending, as in PyTorch.
<%namespace file="_prelude.mako" import="prelude"/>
<%
    T = dialect.ctype(compute)
    L = dialect.int64
    fp64 = compute.name == "float64"
%>
${prelude(fp64)}

INLINE int ct_before(${T} a, ${L} ai, ${T} b, ${L} bi, ${L} len) {
    if ((ai >= len) != (bi >= len)) return bi >= len;
    if (ai >= len) return ai < bi;
% if compute.is_floating_point:
    if ((a != a) != (b != b)) return ${"(b != b)" if not descending else "(a != a)"};
    if (a == a && a != b) return a ${">" if descending else "<"} b;
% else:
    if (a != b) return a ${">" if descending else "<"} b;
% endif
    return ai < bi;
}

KERNEL void ${name}(GLOBAL ${T}* ct_keys, GLOBAL ${L}* ct_index, const ${L} ct_total,
                    const ${L} ct_p, const ${L} ct_len, const ${L} ct_j, const ${L} ct_k)
{
    for (${L} ct_g = (${L})GID(0); ct_g < ct_total; ct_g += (${L})GLOBAL_SIZE(0)) {
        const ${L} ct_i = ct_g % ct_p;
        const ${L} ct_partner = ct_i ^ ct_j;
        if (ct_partner <= ct_i) continue;
        const ${L} ct_x = ct_g, ct_y = ct_g - ct_i + ct_partner;
        const ${T} a = ct_keys[ct_x], b = ct_keys[ct_y];
        const ${L} ai = ct_index[ct_x], bi = ct_index[ct_y];
        const int ct_up = (ct_i & ct_k) == 0;
        if (ct_up ? ct_before(b, bi, a, ai, ct_len) : ct_before(a, ai, b, bi, ct_len)) {
            ct_keys[ct_x] = b; ct_keys[ct_y] = a;
            ct_index[ct_x] = bi; ct_index[ct_y] = ai;
        }
    }
}
