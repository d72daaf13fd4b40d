## A chain of pointwise stages applied to one element: the body of fused.mako's kernel, and the
## epilogue of a GEMM whose product only that chain reads (gemm.mako calls it where it would
## store an element of C, so the product never makes a trip through memory).
##   ep       ops/fused.Epilogue: compute, out, inputs, stages, out_kind, ndim
##            inputs: (kind, dtype) per input: "c" contiguous, "s" strided, "v" scalar
##            stages: (expr, sources) per stage, one pointwise.mako expression over a, b, c,
##            d; a source is ("in", k), ("stage", j) or ("acc", 0): the value handed in
##   index    C type of indices;  i: the element's linear index (an expression)
##   coords   (a GEMM's epilogue) the element's (batch, row, column) in C, expressions, and
##            ep.groups: which of C's dims (0 batch, 1 row, 2 column) each dim of the chain's
##            strided layout spans, so that positions need no division (None: divide i)
<%namespace file="_prelude.mako" import="load, store, strided_offsets"/>
<%!
def strides(tag, ndim, index):
    return "".join(", const %s ct_%s_st%d" % (index, tag, d) for d in range(ndim))

def operand(where, k, acc):
    return {"in": "ct_x%d" % k, "stage": "ct_r%d" % k, "acc": "(%s)" % acc}[where]

def group_coordinate(group, coords):
    """The coordinate along a chain dim that spans C's dims ``group``: no division."""
    if not group:
        return "0"
    expr = "(%s)" % coords[group[0]]
    for d in group[1:]:
        expr = "(%s * %s + (%s))" % (expr, ("ct_batch", "ct_m", "ct_n")[d], coords[d])
    return expr

def offset(tag, kind):
    return "ct_%s_off + %s" % (tag, "ct_%s_pos" % tag if kind == "s" else "ct_ei")
%>

## The kernel parameters the chain reads (each starting with a comma): the output (buffer,
## offset, strides where "s"), each input's (buffer, offset, strides where "s") or scalar, and
## the sizes of the strided layout
<%def name="params(ep, index)">\
    , GLOBAL ${dialect.ctype(ep.out)}* ct_out, const ${index} ct_out_off${strides("out", ep.ndim, index) if ep.out_kind == "s" else ""}
${input_params(ep, index)}
</%def>

## The inputs' parameters alone (a prologue's: reduce.mako's)
<%def name="input_params(ep, index)">\
% for k, (kind, dt) in enumerate(ep.inputs):
% if kind == "v":
    , const ${dialect.ctype(ep.compute)} ct_v${k}
% else:
    , GLOBAL const ${dialect.ctype(dt)}* ct_in${k}, const ${index} ct_in${k}_off${strides("in%d" % k, ep.ndim, index) if kind == "s" else ""}
% endif
% endfor
% for d in range(ep.ndim):
    , const ${index} ct_size${d}
% endfor
</%def>

## Element ``i``: its positions in the strided operands, the inputs, the stages, the store;
## ``acc`` is the value a source ("acc", 0) reads (a GEMM's product; already of the compute type)
<%def name="element(ep, index, i, acc='', coords=None)">\
        {
${stages(ep, index, i, acc, coords)}
        ${store(ep.out, "ct_out", offset("out", ep.out_kind), "ct_r%d" % (len(ep.stages) - 1))};
        }
</%def>

## Element ``i``'s stages, the last one's value in ct_r<last> (declared in the caller's scope)
<%def name="stages(ep, index, i, acc='', coords=None)">\
<% T = dialect.ctype(ep.compute) %>\
        const ${index} ct_ei = ${i};
% if ep.ndim:
<% tags = (["out"] if ep.out_kind == "s" else []) + ["in%d" % k for k, (kind, _) in enumerate(ep.inputs) if kind == "s"] %>\
% if coords and ep.groups:
% for tag in tags:
        const ${index} ct_${tag}_pos = ${" + ".join("%s * ct_%s_st%d" % (group_coordinate(g, coords), tag, d) for d, g in enumerate(ep.groups))};
% endfor
% else:
% for tag in tags:
        ${index} ct_${tag}_pos = 0;
% endfor
        ${strided_offsets(index, "ct_ei", "ct_size%d",
                          [("ct_%s_pos" % tag, "ct_%s_st%%d" % tag, ()) for tag in tags],
                          range(ep.ndim))}
% endif
% endif
% for k, (kind, dt) in enumerate(ep.inputs):
% if kind == "v":
        const ${T} ct_x${k} = ct_v${k};
% else:
        const ${T} ct_x${k} = ${load(dt, "ct_in%d" % k, offset("in%d" % k, kind), T)};
% endif
% endfor
% for j, (expr, sources) in enumerate(ep.stages):
        ${T} ct_r${j};
        {
% for letter, (where, k) in zip("abcd", sources):
            const ${T} ${letter} = ${operand(where, k, acc)};
% endfor
            ct_r${j} = ${expr};
        }
% endfor
</%def>
