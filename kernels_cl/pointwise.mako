## One pointwise kernel: out = expr(a, b, c, d) over broadcast, strided operands.
##   name      kernel name
##   expr      C expression over the operand names a, b, c, d (already in compute type)
##   compute   dtype the expression computes in;  out  dtype of the output buffer
##   operands  tuple of (kind, dtype): kind "c" contiguous tensor, "s" strided tensor, "v" scalar
##   out_kind  "c" or "s";  ndim  dims after collapsing;  index  C type of indices
<%namespace file="_prelude.mako" import="prelude, load, store, strided_offsets, each_item"/>
<%namespace file="_math.mako" import="helpers"/>
<%
    T = dialect.ctype(compute)
    names = "abcd"
    fp64 = compute.name == "float64" or out.name == "float64" or \
        any(dt.name == "float64" for _, dt in operands)
%>
${prelude(fp64)}
${helpers(T, compute.is_floating_point)}
<%!
def strides(tag, ndim, index):
    return "".join(", const %s ct_%s_st%d" % (index, tag, d) for d in range(ndim))

def offset(tag, kind):
    return "ct_%s_off + %s" % (tag, "ct_%s_pos" % tag if kind == "s" else "ct_i")
%>
KERNEL void ${name}(GLOBAL ${dialect.ctype(out)}* ct_out, const ${index} ct_out_off${strides("out", ndim, index) if out_kind == "s" else ""}
% for k, (kind, dt) in enumerate(operands):
% if kind == "v":
    , const ${T} ct_v${k}
% else:
    , GLOBAL const ${dialect.ctype(dt)}* ct_in${k}, const ${index} ct_in${k}_off${strides("in%d" % k, ndim, index) if kind == "s" else ""}
% endif
% endfor
    , const ${index} ct_n
% for d in range(ndim):
    , const ${index} ct_size${d}
% endfor
    )
{
<%call expr="each_item(index, 'ct_i', 'ct_n')">
% if ndim:
<% tags = (["out"] if out_kind == "s" else []) + ["in%d" % k for k, (kind, _) in enumerate(operands) if kind == "s"] %>\
% for tag in tags:
        ${index} ct_${tag}_pos = 0;
% endfor
        ${strided_offsets(index, "ct_i", "ct_size%d",
                          [("ct_%s_pos" % tag, "ct_%s_st%%d" % tag, ()) for tag in tags],
                          range(ndim))}
% endif
% for k, (kind, dt) in enumerate(operands):
% if kind == "v":
        const ${T} ${names[k]} = ct_v${k};
% else:
        const ${T} ${names[k]} = ${load(dt, "ct_in%d" % k, offset("in%d" % k, kind), T)};
% endif
% endfor
        ${store(out, "ct_out", offset("out", out_kind), expr)};
</%call>
}
