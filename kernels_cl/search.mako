## searchsorted: for value i (row r = i / per_row), the insertion point in the sorted row r of
## `sorted` (length len, strided): the first position whose element is >= value (left) or
## > value (right). NaN sorts as the largest value, as in sort.
<%namespace file="_prelude.mako" import="prelude, load"/>
<%
    T = dialect.ctype(compute)
    L = dialect.int64
    fp64 = compute.name == "float64"
%>
${prelude(fp64)}

INLINE int ct_goes_after(${T} element, ${T} v) {
% if compute.is_floating_point:
    if (v != v) return ${"1" if right else "element == element"};
    if (element != element) return 0;
% endif
    return element ${"<=" if right else "<"} v;
}

KERNEL void ${name}(GLOBAL ${L}* ct_out, GLOBAL const ${dialect.ctype(src)}* ct_sorted,
    const ${L} ct_sorted_off, const ${L} ct_row_stride, const ${L} ct_step, const ${L} ct_len,
    GLOBAL const ${dialect.ctype(vals)}* ct_values, const ${L} ct_values_off, const ${L} ct_n,
    const ${L} ct_per_row)
{
    for (${L} ct_i = (${L})GID(0); ct_i < ct_n; ct_i += (${L})GLOBAL_SIZE(0)) {
        const ${T} v = ${load(vals, "ct_values", "ct_values_off + ct_i", T)};
        const ${L} ct_base = ct_sorted_off + (ct_i / ct_per_row) * ct_row_stride;
        ${L} ct_lo = 0, ct_hi = ct_len;
        while (ct_lo < ct_hi) {
            const ${L} ct_mid = ct_lo + (ct_hi - ct_lo) / 2;
            const ${T} e = ${load(src, "ct_sorted", "ct_base + ct_mid * ct_step", T)};
            if (ct_goes_after(e, v)) ct_lo = ct_mid + 1; else ct_hi = ct_mid;
        }
        ct_out[ct_i] = ct_lo;
    }
}
