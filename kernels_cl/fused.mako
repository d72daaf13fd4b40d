## A chain of pointwise stages in one kernel (cltorch.compile's fusion): each stage is one
## pointwise.mako expression over a, b, c, d; its operands are the kernel's inputs or earlier
## stages' results, which stay in registers instead of making a trip through memory.
##   name   kernel name
##   ep     ops/fused.Epilogue (see _epilogue.mako): compute, the dtype every stage computes
##          in (an intermediate's stored dtype is this one too, so keeping it in a register
##          rounds nothing the unfused chain did not); out, the output's dtype (the last
##          stage's); inputs, stages, out_kind and ndim (0: all contiguous)
##   index  C type of indices
<%namespace file="_prelude.mako" import="prelude, each_item"/>
<%namespace file="_math.mako" import="helpers"/>
<%namespace file="_epilogue.mako" import="params, element"/>
<%
    fp64 = ep.compute.name == "float64" or ep.out.name == "float64" or \
        any(dt.name == "float64" for _, dt in ep.inputs)
%>
${prelude(fp64)}
${helpers(dialect.ctype(ep.compute), ep.compute.is_floating_point)}
KERNEL void ${name}(const ${index} ct_n
${params(ep, index)}
    )
{
<%call expr="each_item(index, 'ct_i', 'ct_n')">
${element(ep, index, "ct_i")}
</%call>
}
