## Counter-based random numbers (Philox4x32-10): element i of a call draws the block at
## counter (i, i >> 32, offset, offset >> 32) under key (seed, seed >> 32), so any device (and
## the NumPy twin in cltorch/ops/random.py) gives the same bits for the same seed and call.
##   dist: "uniform" a + (b - a) * u | "normal" a + b * z | "bernoulli" u < a | "integer"
##         a + (word % b);  out: dtype written;  compute: float32 or float64
<%namespace file="_prelude.mako" import="prelude, store"/>
<%
    T = dialect.ctype(compute)
    U64 = dialect.uint64
    fp64 = compute.name == "float64" or out.name == "float64"
    P = dialect.int64 if dist == "integer" else T
%>
${prelude(fp64)}
INLINE uint ct_mulhi(uint a, uint b) { return (uint)((((${U64})a) * b) >> 32); }

KERNEL void ${name}(GLOBAL ${dialect.ctype(out)}* ct_out, const ${dialect.int64} ct_n,
    const uint ct_key0, const uint ct_key1, const uint ct_off0, const uint ct_off1,
    const ${P} ct_a, const ${P} ct_b)
{
    for (${dialect.int64} ct_i = GID(0); ct_i < ct_n; ct_i += GLOBAL_SIZE(0)) {
        uint c0 = (uint)ct_i, c1 = (uint)(((${U64})ct_i) >> 32), c2 = ct_off0, c3 = ct_off1;
        uint k0 = ct_key0, k1 = ct_key1;
% for r in range(10):
        {
            const uint h0 = ct_mulhi(0xD2511F53u, c0), l0 = 0xD2511F53u * c0;
            const uint h1 = ct_mulhi(0xCD9E8D57u, c2), l1 = 0xCD9E8D57u * c2;
            c0 = h1 ^ c1 ^ k0; c1 = l1; c2 = h0 ^ c3 ^ k1; c3 = l0;
% if r < 9:
            k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
% endif
        }
% endfor
% if compute.name == "float64":
        const ${T} u = (${T})((((${U64})(c0 >> 5)) << 26) | (c1 >> 6)) * (${T})1.1102230246251565e-16;
        const ${T} u2 = (${T})((((${U64})(c2 >> 5)) << 26) | (c3 >> 6)) * (${T})1.1102230246251565e-16;
% else:
        const ${T} u = (${T})(c0 >> 8) * (${T})5.9604644775390625e-08;
        const ${T} u2 = (${T})(c1 >> 8) * (${T})5.9604644775390625e-08;
% endif
% if dist == "uniform":
        ${store(out, "ct_out", "ct_i", "ct_a + (ct_b - ct_a) * u")};
% elif dist == "normal":
        const ${T} z = sqrt((${T})-2 * log((${T})1 - u)) * cos((${T})6.283185307179586 * u2);
        ${store(out, "ct_out", "ct_i", "ct_a + ct_b * z")};
% elif dist == "bernoulli":
        ${store(out, "ct_out", "ct_i", "u < ct_a")};
% else:
        ${store(out, "ct_out", "ct_i", "ct_a + (%s)((((%s)c0) << 32 | c1) %% (%s)ct_b)" % (dialect.int64, U64, U64))};
% endif
    }
}
