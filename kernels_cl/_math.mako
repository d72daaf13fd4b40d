## Helpers the pointwise op table's C expressions call, rendered for one compute type T
## (a C type name) of one category (floating point or integer). Written once for both dialects.
<%def name="helpers(T, is_float)">
% if is_float:
INLINE ${T} ct_max(${T} a, ${T} b) { return (a != a) ? a : ((b != b) ? b : (a > b ? a : b)); }
INLINE ${T} ct_min(${T} a, ${T} b) { return (a != a) ? a : ((b != b) ? b : (a < b ? a : b)); }
INLINE ${T} ct_sign(${T} a) { return (${T})((a > 0) - (a < 0)); }  // NaN -> 0 as in PyTorch
% if T == "float":
// fabs as its definition, the sign bit cleared: PoCL calls its fabs out of line, which keeps
// a pointwise kernel from vectorising (30 ms against 17 for a multiply, 2^24 floats)
INLINE float ct_abs(float a) { return BITS_F32(F32_BITS(a) & 0x7fffffffu); }
INLINE float ct_sqrt(float a) { return SQRT_F32(a); }
% else:
INLINE ${T} ct_abs(${T} a) { return fabs(a); }
INLINE ${T} ct_sqrt(${T} a) { return sqrt(a); }
% endif
INLINE ${T} ct_sigmoid(${T} a) { return (${T})1 / ((${T})1 + exp(-a)); }
INLINE ${T} ct_remainder(${T} a, ${T} b) {
    ${T} r = fmod(a, b);
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
INLINE ${T} ct_floordiv(${T} a, ${T} b) {
    if (b == 0) return a / b;
    ${T} r = fmod(a, b);
    ${T} q = (a - r) / b;
    if (r != 0 && ((b < 0) != (r < 0))) q -= 1;
    if (q == 0) return copysign((${T})0, a / b);
    ${T} f = floor(q);
    return (q - f > (${T})0.5) ? f + 1 : f;
}
INLINE ${T} ct_lerp(${T} a, ${T} b, ${T} w) {
    return (fabs(w) < (${T})0.5) ? a + w * (b - a) : b - (b - a) * ((${T})1 - w);
}
INLINE ${T} ct_round_decimals(${T} a, ${T} scale, ${T} negative) {
    return negative != 0 ? rint(a / scale) * scale : rint(a * scale) / scale;
}
INLINE ${T} ct_nan_to_num(${T} a, ${T} nan, ${T} posinf, ${T} neginf) {
    return (a != a) ? nan : ((a == (${T})INFINITY) ? posinf : ((a == -(${T})INFINITY) ? neginf : a));
}
% else:
INLINE ${T} ct_max(${T} a, ${T} b) { return a > b ? a : b; }
INLINE ${T} ct_min(${T} a, ${T} b) { return a < b ? a : b; }
INLINE ${T} ct_sign(${T} a) { return (${T})((a > 0) - (a < 0)); }
## Integer division by zero is undefined in C and traps on x86 (PoCL): the kernels return 0.
## b == -1 is taken apart so that MIN / -1 wraps instead of trapping.
INLINE ${T} ct_div_trunc(${T} a, ${T} b) { return b == 0 ? 0 : (b == -1 ? (${T})(0 - a) : a / b); }
INLINE ${T} ct_fmod(${T} a, ${T} b) { return (b == 0 || b == -1) ? 0 : a % b; }
INLINE ${T} ct_remainder(${T} a, ${T} b) {
    ${T} r = ct_fmod(a, b);
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
INLINE ${T} ct_floordiv(${T} a, ${T} b) {
    ${T} q = ct_div_trunc(a, b);
    return (b != 0 && ct_fmod(a, b) != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
INLINE ${T} ct_ipow(${T} a, ${T} b) {
    if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);
    ${T} r = 1;
    while (b) { if (b & 1) r *= a; a *= a; b >>= 1; }
    return r;
}
INLINE ${T} ct_shl(${T} a, ${T} b) { return (b < 0 || b >= (${T})(8 * sizeof(${T}))) ? 0 : a << b; }
INLINE ${T} ct_shr(${T} a, ${T} b) {
    return (b < 0 || b >= (${T})(8 * sizeof(${T}))) ? (a < 0 ? -1 : 0) : a >> b;
}
% endif
</%def>
