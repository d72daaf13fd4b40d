## Fused optimizer updates: one kernel per parameter tensor per step. Each element loads the
## parameter p, its gradient g and the algorithm's state buffers, runs the update `body`
## (C statements over those names and the scalar hyper-parameters), and stores p and the
## states back. Contiguous tensors; compute in float (double for float64).
<%namespace file="_prelude.mako" import="prelude, load, store"/>
<%
    C = dialect.ctype(dtype.compute)
    idx = index
%>
${prelude(dtype.name == "float64")}
typedef ${C} ct_real;  // the compute type, for temporaries in rule bodies
INLINE ${C} ct_max(${C} a, ${C} b) { return (a != a) ? a : ((b != b) ? b : (a > b ? a : b)); }
INLINE ${C} ct_sign(${C} a) { return (${C})((a > 0) - (a < 0)); }

KERNEL void ${name}(GLOBAL ${dialect.ctype(dtype)}* ct_p, GLOBAL const ${dialect.ctype(grad)}* ct_g
% for s in states:
    , GLOBAL ${dialect.ctype(dtype)}* ct_${s}
% endfor
% for a in scalars:
    , const ${C} ${a}
% endfor
    , const ${idx} ct_n)
{
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_n; ct_i += (${idx})GLOBAL_SIZE(0)) {
        ${C} p = ${load(dtype, "ct_p", "ct_i", C)};
        ${C} g = ${load(grad, "ct_g", "ct_i", C)};
% for s in states:
        ${C} ${s} = ${load(dtype, "ct_" + s, "ct_i", C)};
% endfor
        ${body}
        ${store(dtype, "ct_p", "ct_i", "p")};
% for s in states:
        ${store(dtype, "ct_" + s, "ct_i", s)};
% endfor
    }
}
