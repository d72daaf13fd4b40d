## Fused optimizer updates: one kernel updates `count` parameter tensors (PyTorch's foreach:
## one launch for a step's parameters that share a rule, dtypes and hyper-parameters). Each
## element loads the parameter p, its gradient g and the algorithm's state buffers, runs the
## update `body` (C statements over those names and the scalar hyper-parameters), and stores
## p and the states back. Contiguous tensors; compute in float (double for float64).
## With count > 1, tensor t's elements are ct_end{t-1} <= i < ct_end{t} of the items' range
## (ct_n = the last end); its buffers carry the suffix t.
<%namespace file="_prelude.mako" import="prelude, load, store, each_item"/>
<%
    C = dialect.ctype(dtype.compute)
    idx = index
    suffixes = [""] if count == 1 else [str(t) for t in range(count)]
%>
${prelude(dtype.name == "float64")}
typedef ${C} ct_real;  // the compute type, for temporaries in rule bodies
INLINE ${C} ct_max(${C} a, ${C} b) { return (a != a) ? a : ((b != b) ? b : (a > b ? a : b)); }
INLINE ${C} ct_sign(${C} a) { return (${C})((a > 0) - (a < 0)); }
INLINE ${C} ct_sqrt(${C} a) { return ${"SQRT_F32(a)" if C == "float" else "sqrt(a)"}; }  // _prelude.mako

KERNEL void ${name}(
% for t, sfx in enumerate(suffixes):
    ${"" if t == 0 else ", "}GLOBAL ${dialect.ctype(dtype)}* ct_p${sfx}, GLOBAL const ${dialect.ctype(grad)}* ct_g${sfx}
% for s in states:
    , GLOBAL ${dialect.ctype(dtype)}* ct_${s}${sfx}
% endfor
% endfor
% for a in scalars:
    , const ${C} ${a}
% endfor
% if count > 1:
% for t in range(count):
    , const ${idx} ct_end${t}
% endfor
% endif
    , const ${idx} ct_n)
{
<%call expr="each_item(idx, 'ct_i', 'ct_n')">
% if count == 1:
${element("", "ct_i")}
% else:
% for t in range(count):
        ${"if" if t == 0 else "else if"} (ct_i < ct_end${t}) {
            const ${idx} ct_j = ct_i${"" if t == 0 else " - ct_end%d" % (t - 1)};
${element(str(t), "ct_j")}
        }
% endfor
% endif
</%call>
}

## One element ``j`` of the tensors with suffix ``sfx``
<%def name="element(sfx, j)">\
        {
        ${C} p = ${load(dtype, "ct_p" + sfx, j, C)};
        ${C} g = ${load(grad, "ct_g" + sfx, j, C)};
% for s in states:
        ${C} ${s} = ${load(dtype, "ct_" + s + sfx, j, C)};
% endfor
        ${body}
        ${store(dtype, "ct_p" + sfx, j, "p")};
% for s in states:
        ${store(dtype, "ct_" + s + sfx, j, s)};
% endfor
        }
</%def>
